// Loopback by address, for the checks that must not take a name's word for it (the admin's
// listener, `--trust-proxy loopback`): all of 127.0.0.0/8 and ::1. A BlockList of these matches
// an IPv4-mapped address (`::ffff:127.0.0.1`) as the IPv4 address it maps, as the kernel routes it.
import type { BlockList } from 'node:net';

/** Adds the loopback ranges to `list`. */
export function addLoopback(list: BlockList): BlockList {
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  return list;
}
