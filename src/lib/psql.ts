/**
 * A constant bash script (run as `bash -c PSQL_FROM_URL psql ARGS…`) that opens
 * psql on the container's DATABASE_URL without the password on any command line:
 * the URL (postgresql://user:password@host:port/db) is taken apart into libpq's
 * PG* variables, then psql gets only ARGS, each its own argv element, never parsed.
 * Used by `pg:psql` both over SSH (in a replica) and with -c (in a one-off job).
 */
export const PSQL_FROM_URL = `if [ -z "\${DATABASE_URL:-}" ]; then echo "DATABASE_URL is not set: beamstalk pg:create" >&2; exit 1; fi
u="\${DATABASE_URL#*://}"; creds="\${u%%@*}"; rest="\${u#*@}"; hostport="\${rest%%/*}"; db="\${rest#*/}"
export PGUSER="\${creds%%:*}" PGPASSWORD="\${creds#*:}" PGHOST="\${hostport%%:*}" PGDATABASE="\${db%%\\?*}"
case "$hostport" in *:*) export PGPORT="\${hostport##*:}";; esac
exec psql -X "$@"`;
