/** A deploy, scale, restart or rollback that could not be done; what ran before keeps running. */
export class DeployError extends Error {
  override name = "DeployError";
}
