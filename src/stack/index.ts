export { BUILD_IMAGE, RUN_IMAGE, STACK, STACK_IMAGES, type StackKind } from "./images.ts";
export {
  buildImage,
  buildStackImage,
  ensureStackImages,
  imageExists,
  imageRecipe,
  stackImageCurrent,
  stackRecipe,
  type EnsureStackOptions,
  type ImageRecipe,
  type StackBuildOptions,
  type StackBuildResult,
} from "./build.ts";
