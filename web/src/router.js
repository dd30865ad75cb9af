// Hash routes (the server needs no fallback). meta.perm: the permission a page
// needs (from GET /api/v1/me); meta.enterprise: enterprise users only;
// meta.staff: staff only. A page the user may not open shows "forbidden".
import { createRouter, createWebHashHistory } from 'vue-router'
import { auth, loadMe, can, hasRole, homeFor } from './store'
import { onUnauthenticated } from './api'

const Portal = () => import('./layouts/PortalLayout.vue')
const Console = () => import('./layouts/ConsoleLayout.vue')

const routes = [
  { path: '/', redirect: () => homeFor() },
  { path: '/login', component: () => import('./views/Login.vue'), meta: { public: true } },
  { path: '/password', component: () => import('./views/ChangePassword.vue') },
  { path: '/forbidden', component: () => import('./views/Forbidden.vue'), meta: { public: true } },
  {
    path: '/portal', component: Portal, meta: { enterprise: true },
    children: [
      { path: '', component: () => import('./views/portal/PortalHome.vue'), meta: { enterprise: true } },
      { path: 'requests/new', component: () => import('./views/portal/NewRequest.vue'), meta: { enterprise: true, perm: 'request.submit' } },
      { path: 'requests', component: () => import('./views/portal/MyRequests.vue'), meta: { enterprise: true } },
      { path: 'requests/:id', component: () => import('./views/portal/PortalRequest.vue'), meta: { enterprise: true } },
      { path: 'code', component: () => import('./views/portal/MyCode.vue'), meta: { enterprise: true } },
      { path: 'notifications', component: () => import('./views/Notifications.vue'), meta: { enterprise: true } },
    ],
  },
  {
    path: '/field', component: () => import('./layouts/FieldLayout.vue'), meta: { staff: true, perm: 'visit.write' },
    children: [
      { path: '', component: () => import('./views/field/FieldTasks.vue'), meta: { staff: true, perm: 'visit.write' } },
      { path: 'visit', component: () => import('./views/field/FieldVisit.vue'), meta: { staff: true, perm: 'visit.write' } },
      { path: 'visits', component: () => import('./views/field/FieldVisits.vue'), meta: { staff: true, perm: 'visit.write' } },
    ],
  },
  {
    path: '/console', component: Console, meta: { staff: true },
    children: [
      { path: '', redirect: () => homeFor() },
      { path: 'dashboard', component: () => import('./views/dashboard/Dashboard.vue'), meta: { staff: true, perm: 'report.read', title: 'nav.dashboard', wide: true } },
      { path: 'queue', component: () => import('./views/console/Queue.vue'), meta: { staff: true, perm: 'request.dispatch', title: 'nav.queue' } },
      { path: 'work', component: () => import('./views/console/DeptWork.vue'), meta: { staff: true, perm: 'request.handle', title: 'nav.work' } },
      { path: 'requests', component: () => import('./views/console/Requests.vue'), meta: { staff: true, perm: 'request.read', title: 'nav.requests' } },
      { path: 'enterprises', component: () => import('./views/console/Enterprises.vue'), meta: { staff: true, perm: 'enterprise.read', title: 'nav.enterprises' } },
      { path: 'enterprises/:id', component: () => import('./views/console/EnterpriseDetail.vue'), meta: { staff: true, perm: 'enterprise.read', title: 'nav.enterprises' } },
      { path: 'blindspots', component: () => import('./views/console/BlindSpots.vue'), meta: { staff: true, perm: 'blindspot.read', title: 'nav.blindspots' } },
      { path: 'grids', component: () => import('./views/console/Grids.vue'), meta: { staff: true, perm: 'grid.read', title: 'nav.grids', wide: true } },
      { path: 'analysis', component: () => import('./views/console/Analysis.vue'), meta: { staff: true, perm: 'analysis.read', title: 'nav.analysis', wide: true } },
      { path: 'visits', component: () => import('./views/console/Visits.vue'), meta: { staff: true, perm: 'visit.read', title: 'nav.visits' } },
      { path: 'campaigns', component: () => import('./views/console/Campaigns.vue'), meta: { staff: true, perm: 'visit.read', title: 'nav.campaigns' } },
      { path: 'visit-plan', component: () => import('./views/console/VisitPlan.vue'), meta: { staff: true, perm: 'visit.read', title: 'nav.visitPlan' } },
      { path: 'admin/grids', component: () => import('./views/admin/GridAdmin.vue'), meta: { staff: true, perm: 'grid.write', title: 'nav.gridAdmin' } },
      { path: 'checkin', component: () => import('./views/console/Checkin.vue'), meta: { staff: true, perm: 'checkin.verify', title: 'nav.checkin' } },
      { path: 'ledger', component: () => import('./views/console/Ledger.vue'), meta: { staff: true, perm: 'ledger.read', title: 'nav.ledger' } },
      { path: 'notifications', component: () => import('./views/Notifications.vue'), meta: { staff: true, title: 'nav.notifications' } },
      { path: 'admin/users', component: () => import('./views/admin/Users.vue'), meta: { staff: true, perm: 'user.write', title: 'nav.users' } },
      { path: 'admin/depts', component: () => import('./views/admin/Depts.vue'), meta: { staff: true, perm: 'dept.write', title: 'nav.depts' } },
      { path: 'admin/roles', component: () => import('./views/admin/Roles.vue'), meta: { staff: true, perm: 'user.write', title: 'nav.roles' } },
      { path: 'admin/categories', component: () => import('./views/admin/Categories.vue'), meta: { staff: true, perm: 'category.write', title: 'nav.categories' } },
      { path: 'admin/calendar', component: () => import('./views/admin/Calendar.vue'), meta: { staff: true, perm: 'calendar.write', title: 'nav.calendar' } },
      { path: 'admin/settings', component: () => import('./views/admin/Settings.vue'), meta: { staff: true, perm: 'settings.write', title: 'nav.settings' } },
      { path: 'admin/audit', component: () => import('./views/admin/Audit.vue'), meta: { staff: true, perm: 'audit.read', title: 'nav.audit' } },
    ],
  },
  { path: '/:rest(.*)*', component: () => import('./views/Forbidden.vue'), meta: { public: true, notFound: true } },
]

export const router = createRouter({ history: createWebHashHistory(), routes })

export function allowed(route) {
  for (const r of route.matched) {
    const m = r.meta || {}
    if (m.enterprise && !hasRole('enterprise')) return false
    if (m.staff && hasRole('enterprise') && (auth.me.roles || []).length === 1) return false
    if (m.perm && !can(m.perm)) return false
  }
  return true
}

router.beforeEach(async (to) => {
  if (!auth.loaded) await loadMe()
  if (to.meta.public) return true
  if (!auth.me) return { path: '/login', query: { redirect: to.fullPath } }
  if (auth.me.must_change_password && to.path !== '/password') return '/password'
  if (!allowed(to)) return { path: '/forbidden', query: { from: to.fullPath } }
  return true
})

onUnauthenticated(() => {
  auth.me = null
  const cur = router.currentRoute.value
  if (!cur.meta.public) router.replace({ path: '/login', query: { redirect: cur.fullPath } })
})
