// Drop reasons: the list lives with the shim's other layouts (src/native/abi.ts, enum mcr_drop).
export { DROP_REASONS, type DropReason } from "../native/abi.ts";
