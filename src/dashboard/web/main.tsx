/**
 * The dashboard page's entry: reads where the runtime listens (`/config.json`, served beside the page),
 * takes a token handed over in the URL fragment (`#token=...`, printed by `arcp serve` for its development
 * token; the fragment never reaches a server, and is removed from the address bar at once), and renders.
 */
import { render } from "preact"
import { App, remember, remembered, type SignInData } from "./views/App.js"

const defaultUrl = async (): Promise<string> => {
  const fallback = `ws://${location.hostname}:7777`
  try {
    const response = await fetch("config.json", { cache: "no-store" })
    const config: unknown = await response.json()
    const url: unknown = typeof config === "object" && config !== null ? Reflect.get(config, "ws_url") : undefined
    return typeof url === "string" ? url : fallback
  } catch {
    return fallback
  }
}

const fromFragment = (url: string): SignInData | undefined => {
  const token = new URLSearchParams(location.hash.slice(1)).get("token")
  if (token === null || token === "") return undefined
  history.replaceState(null, "", location.pathname + location.search)
  return { url, credentials: { scheme: "bearer", token } }
}

const start = async () => {
  const url = await defaultUrl()
  const root = document.getElementById("app")
  if (root === null) return
  const handed = fromFragment(url)
  if (handed !== undefined) remember(handed)
  render(<App defaultUrl={url} initial={handed ?? remembered()} />, root)
}

void start()
