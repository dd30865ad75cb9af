// The HTTP API client: the session cookie goes along by itself; every
// request that is not GET carries the X-CSRF-Token the login (or GET /me) gave.
// Errors become ApiError with the API's bilingual message and the field it names.
import { reactive } from 'vue'
import { i18n } from './i18n'

export const session = reactive({ csrf: '' })

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {}
    super(e.message || `HTTP ${status}`)
    this.status = status
    this.code = e.code || 'http'
    this.message_en = e.message || i18n.global.t('common.httpError', { s: status }, { locale: 'en' })
    this.message_zh = e.message_zh || e.message || i18n.global.t('common.httpError', { s: status }, { locale: 'zh' })
    this.field = e.field || ''
    this.body = body || null
  }
  text(locale) {
    return locale && locale.startsWith('en') ? this.message_en : this.message_zh
  }
}

const listeners = new Set()
export function onUnauthenticated(fn) { listeners.add(fn) }

function qs(params) {
  if (!params) return ''
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue
    u.append(k, String(v))
  }
  const s = u.toString()
  return s ? '?' + s : ''
}

export async function request(method, path, { body, params, raw, headers } = {}) {
  const h = { Accept: 'application/json', ...(headers || {}) }
  let data
  if (raw !== undefined) data = raw
  else if (body !== undefined) {
    data = JSON.stringify(body)
    h['Content-Type'] = 'application/json'
  }
  if (method !== 'GET' && session.csrf) h['X-CSRF-Token'] = session.csrf
  const res = await fetch('/api/v1' + path + qs(params), {
    method, headers: h, body: data, credentials: 'same-origin',
  })
  if (res.status === 204) return null
  const ct = res.headers.get('Content-Type') || ''
  const json = ct.includes('json') ? await res.json().catch(() => null) : null
  if (!res.ok) {
    const err = new ApiError(res.status, json)
    if (res.status === 401 && !path.startsWith('/auth/')) listeners.forEach((fn) => fn(err))
    throw err
  }
  return json
}

export const api = {
  get: (p, params) => request('GET', p, { params }),
  post: (p, body, params) => request('POST', p, { body, params }),
  patch: (p, body) => request('PATCH', p, { body }),
  put: (p, body) => request('PUT', p, { body }),
  del: (p) => request('DELETE', p),
  upload: (p, file, params) => request('POST', p, { raw: file, params,
    headers: { 'Content-Type': file.type || 'application/octet-stream' } }),
}

// Fetch every page of a keyset-paged list (bounded).
export async function getAll(path, params = {}, maxPages = 20) {
  const items = []
  let after
  for (let i = 0; i < maxPages; i++) {
    const page = await api.get(path, { ...params, limit: 200, after })
    items.push(...(page.items || []))
    if (!page.next) break
    after = page.next
  }
  return items
}
