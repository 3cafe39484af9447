// Lists of UDP endpoints on the traffic tools' command lines: --dest, --group, --listen, each
// repeatable and each a comma-separated list ("--dest 239.1.1.1:5001,239.1.1.2:5001").
import { type Endpoint, type EndpointRule, parseEndpoint } from "../values/endpoint.ts";
import { ValueError } from "../values/error.ts";

/** Every item of every value, parsed; an empty item is refused. */
export function endpointList(values: readonly string[], flag: string, r: EndpointRule): Endpoint[] {
  const out: Endpoint[] = [];
  for (const item of values.flatMap((v) => v.split(",")).map((v) => v.trim())) {
    if (item === "") throw new ValueError(flag, "an empty address in the list");
    out.push(parseEndpoint(item, flag, r));
  }
  return out;
}
