/**
 * Command-line options that fall back to an environment variable: the one way
 * `serve` and `send` declare their settings, with the default and the variable
 * named in the help text from the same values that define them.
 */
import { Options } from "@effect/cli"
import { Config, type Option } from "effect"

/** `option`, else the environment's `config` (the flag wins). */
export const withEnv = <A>(option: Options.Options<A>, config: Config.Config<A>): Options.Options<A> =>
  option.pipe(Options.withFallbackConfig(config))

const described = <A extends string | number>(option: Options.Options<A>, name: string, fallback: A, text: string) =>
  option.pipe(Options.withDefault(fallback), Options.withDescription(`${text} (default ${fallback}) [${name}]`))

/** An integer `--flag`, else `$name`, else `fallback`. */
export const integer = (flag: string, name: string, fallback: number, text: string): Options.Options<number> =>
  described(withEnv(Options.integer(flag), Config.integer(name)), name, fallback, text)

/** A text `--flag`, else `$name`, else `fallback`. */
export const text = (flag: string, name: string, fallback: string, text: string): Options.Options<string> =>
  described(withEnv(Options.text(flag), Config.string(name)), name, fallback, text)

/** A text `--flag`, else `$name`, else none. */
export const optionalText = (flag: string, name: string, text: string): Options.Options<Option.Option<string>> =>
  withEnv(Options.text(flag), Config.string(name)).pipe(Options.optional, Options.withDescription(`${text} [${name}]`))
