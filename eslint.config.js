// Lint and formatting, run by `npm test` (STYLE.md §2.9): dprint formatting as the Effect codebase
// configures it (2 spaces, 120 columns, no semicolons), plus the few rules tsc does not already enforce.
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "docs/api/", ".scratch/", "test/fixtures/"] },
  {
    files: ["**/*.ts", "**/*.tsx"],
    languageOptions: { parser: tseslint.parser },
    plugins: { "@effect": effect, "@typescript-eslint": tseslint.plugin },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "error",
      // the barrel loads every module of the package, Swagger's and Scalar's bundled UIs among them: 21 MB of heap
      // and their parse time in every process that imports arcp as a library (issue 12)
      "no-restricted-imports": ["error", {
        paths: [{ name: "@effect/platform", message: "import the module's own path, e.g. @effect/platform/FileSystem" }]
      }]
    }
  },
  // benchmarks index their own fixed arrays in hot loops
  { files: ["bench/**/*.ts"], rules: { "@typescript-eslint/no-non-null-assertion": "off" } }
)
