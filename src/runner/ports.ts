/**
 * Ports a replica's BEAM listens on inside its container, on the app's own
 * network only: no container publishes a port on the host.
 */

/** EPMD, started by the app's node. */
export const EPMD_PORT = 4369;

/**
 * The app's node's distribution port. boot.sh pins it (ERL_ZFLAGS, for the
 * process command only) so `ps:observer` can forward exactly this port.
 */
export const DIST_PORT = 9100;
