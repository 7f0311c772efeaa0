import { describe } from "@effect/vitest"
import * as MemoryArtifactStore from "../../src/store/MemoryArtifactStore.js"
import { artifactStoreSuite } from "./ArtifactStoreSuite.js"

describe("MemoryArtifactStore", () => {
  artifactStoreSuite(() => MemoryArtifactStore.layer)
})
