// `import x from "./file.so" with { type: "file" }` gives the file's path (embedded when compiled).
declare module "*.so" {
  const path: string;
  export default path;
}
