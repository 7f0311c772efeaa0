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

/**
 * The TLS flags of the commands that dial a runtime (`send`, and every command built on `Connect.options`).
 * Their variables are not `serve`'s ARCP_TLS_*: a shell set up for a server must not make its clients
 * present the server's certificate.
 */
export const clientTls = {
  tlsCa: optionalText(
    "tls-ca",
    "ARCP_CLIENT_TLS_CA",
    "PEM file of a CA to trust for a wss:// or https:// runtime's certificate, besides Node's and NODE_EXTRA_CA_CERTS"
  ),
  tlsCert: optionalText(
    "tls-cert",
    "ARCP_CLIENT_TLS_CERT",
    "PEM client certificate to present (mutual TLS, with --tls-key); with no --token, --jwt-secret or --anonymous the session uses scheme mtls"
  ),
  tlsKey: optionalText("tls-key", "ARCP_CLIENT_TLS_KEY", "PEM private key of --tls-cert")
}
