import { networkInterfaces } from "node:os";
import { ifIndex } from "../native/shim.ts";

export interface InterfaceInfo {
  name: string;
  ifindex: number;
  ipv4?: string; // the first IPv4 address: what mcr sends from
  ipv4Prefix?: number; // its prefix length
  mac?: string;
}

/** The interface as this network namespace sees it now, or undefined if it does not exist. */
export function lookupInterface(name: string): InterfaceInfo | undefined {
  if (name.length === 0 || name.length > 15 || /[\s/:]/.test(name)) return undefined;
  const ifindex = ifIndex(name);
  if (ifindex === 0) return undefined;
  const addrs = networkInterfaces()[name] ?? [];
  const v4 = addrs.find((a) => a.family === "IPv4");
  const prefix = v4?.cidr ? Number(v4.cidr.split("/")[1]) : undefined;
  return {
    name,
    ifindex,
    ipv4: v4?.address,
    ...(prefix !== undefined ? { ipv4Prefix: prefix } : {}),
    mac: addrs[0]?.mac,
  };
}
