// Who is logged in: GET /api/v1/me, the permissions and roles it lists.
import { reactive, computed } from 'vue'
import { api, session } from './api'

export const auth = reactive({ me: null, loaded: false })

export async function loadMe() {
  try {
    const me = await api.get('/me')
    auth.me = me
    if (me.csrf_token) session.csrf = me.csrf_token
  } catch {
    auth.me = null
  }
  auth.loaded = true
  return auth.me
}

export async function login(loginName, password) {
  const r = await api.post('/auth/login', { login: loginName, password })
  session.csrf = r.csrf_token
  return loadMe()
}

export async function logout() {
  try { await api.post('/auth/logout') } catch { /* already gone */ }
  auth.me = null
  session.csrf = ''
}

export function can(perm) {
  const p = auth.me && auth.me.permissions
  return !!(p && p[perm])
}
export function scopeOf(perm) {
  const p = auth.me && auth.me.permissions
  return (p && p[perm]) || null
}
export function hasRole(r) {
  return !!(auth.me && (auth.me.roles || []).includes(r))
}
export const isEnterprise = computed(() => hasRole('enterprise'))

// Where a user lands after login.
export function homeFor() {
  if (!auth.me) return '/login'
  if (auth.me.must_change_password) return '/password'
  if (hasRole('enterprise')) return '/portal'
  if (hasRole('leader')) return '/console/dashboard'
  if (can('request.dispatch')) return '/console/queue'
  if (can('request.handle')) return '/console/work'
  if (can('visit.write')) return '/field'
  if (can('checkin.verify') && !can('request.handle')) return '/console/checkin'
  if (can('request.read')) return '/console/requests'
  if (can('enterprise.read')) return '/console/enterprises'
  return '/console/notifications'
}
