// Browser tests of the web UI: Debian's Chromium, headless, driven by
// playwright-core (from web/node_modules; no browser download), against a
// yiqiban server this script starts on a free loopback port with a fresh demo
// database (`yiqiban demo` + `yiqiban serve --web-root web/dist`) and stops.
//
//   node tests/browser/run.mjs            (YQ_BIN=build/release/yiqiban by default)
//
// The end-to-end flow: an enterprise raises a request in the portal, the
// dispatcher dispatches it, the department signs and replies, the enterprise
// rates it, and the leader's dashboard counts it. Then: pages of one role are
// closed to another, API errors appear next to the field they name, the UI
// switches to English. Screenshots go to build/screenshots/.
import { spawn, execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync, mkdirSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(join(ROOT, 'web', 'package.json'))
const { chromium } = require('playwright-core')

const BIN = resolve(ROOT, process.env.YQ_BIN || 'build/release/yiqiban')
const WEB = join(ROOT, 'web', 'dist')
const SHOTS = join(ROOT, 'build', 'screenshots')
const PASSWORD = 'Yiqiban@2026'
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
// a 1×1 PNG: the server checks the signature and the IHDR chunk
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64')

const results = []
const pageErrors = []
let server = null
let tmp = null
let browser = null

function log(...a) { console.log(...a) }

async function startServer() {
  tmp = mkdtempSync(join(tmpdir(), 'yqbrowser-'))
  const db = join(tmp, 'yiqiban.db')
  execFileSync(BIN, ['demo', '--db', db, '--enterprises', '200'], { stdio: 'ignore' })
  server = spawn(BIN, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--access-log', 'off', '--no-scheduler',
    '--web-root', WEB], { stdio: ['ignore', 'ignore', 'pipe'] })
  let errText = ''
  const port = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('server did not start:\n' + errText)), 30000)
    server.stderr.on('data', (b) => {
      errText += b.toString()
      const m = /\(port (\d+),/.exec(errText)
      if (m) { clearTimeout(timer); ok(Number(m[1])) }
    })
    server.on('exit', (c) => { clearTimeout(timer); fail(new Error(`server exited ${c}:\n${errText}`)) })
  })
  server.removeAllListeners('exit')
  server.stderr.on('data', (b) => { errText += b.toString() })
  server.errText = () => errText
  return `http://127.0.0.1:${port}`
}

async function stopServer() {
  if (!server) return
  const done = new Promise((ok) => server.on('exit', (code, sig) => ok({ code, sig })))
  server.kill('SIGTERM')
  const { code } = await Promise.race([done, new Promise((ok) => setTimeout(() => ok({ code: 'timeout' }), 30000))])
  const errs = server.errText()
  server = null
  if (code !== 0 || /Sanitizer|runtime error/.test(errs)) throw new Error(`server exit ${code}:\n${errs}`)
}

async function newPage(base, { mobile = false } = {}) {
  const ctx = await browser.newContext(mobile
    ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' }
    : { viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
  const page = await ctx.newPage()
  page.setDefaultTimeout(15000)
  page.on('pageerror', (e) => pageErrors.push(`${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) pageErrors.push(m.text())
  })
  page.base = base
  return page
}

async function login(page, who) {
  await page.goto(page.base + '/#/login')
  await page.getByLabel('账号').fill(who)
  await page.getByLabel('密码').fill(PASSWORD)
  await page.getByRole('button', { name: '登 录' }).click()
  await page.waitForURL((u) => !u.hash.startsWith('#/login'))
}

async function shot(page, name) {
  await page.locator('.el-message').first().waitFor({ state: 'detached', timeout: 8000 }).catch(() => {})
  await page.waitForTimeout(300)
  // phones: the screen as the user sees it (the tab bar stays at the bottom)
  const mobile = (page.viewportSize() || {}).width < 500
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: !mobile })
}

// Static: every message key the sources use exists in Chinese and English,
// both catalogues have the same keys, and no Chinese text sits in a template
// or script outside the catalogue (comments aside).
async function checkMessages() {
  const src = join(ROOT, 'web', 'src')
  const zh = (await import(join(src, 'i18n', 'zh.js'))).default
  const en = (await import(join(src, 'i18n', 'en.js'))).default
  const flat = (o, p = '') => Object.entries(o).flatMap(([k, v]) =>
    (v && typeof v === 'object' && !Array.isArray(v) ? flat(v, p + k + '.') : [p + k]))
  const kz = new Set(flat(zh)), ke = new Set(flat(en))
  const diff = [...kz].filter((k) => !ke.has(k)).concat([...ke].filter((k) => !kz.has(k)))
  expect(diff.length === 0, 'keys in one catalogue only: ' + diff.join(', '))
  const files = []
  const walk = (d) => { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else if (/\.(vue|js)$/.test(n)) files.push(p) } }
  walk(src)
  const has = (k) => { let v = zh; for (const part of k.split('.')) { if (v == null) return false; v = v[part] } return v !== undefined }
  const problems = []
  for (const f of files) {
    if (f.includes(join('i18n', ''))) continue
    const text = readFileSync(f, 'utf8')
    for (const m of text.matchAll(/\bt\('([A-Za-z0-9_.]+)'|(?:label|title): '([a-z]+\.[A-Za-z0-9_.]+)'/g)) {
      const k = m[1] || m[2]
      if (!k.endsWith('.') && !has(k)) problems.push(`${f}: ${k}`)
    }
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$|^\s*\*.*$|<!--.*?-->/g, '')
      if (/[\u4e00-\u9fff]/.test(code)) problems.push(`${f}:${i + 1}: text outside the catalogue`)
    })
  }
  expect(problems.length === 0, problems.join('\n'))
}

async function kpis(page) {
  await page.goto(page.base + '/#/console/dashboard')
  await page.reload()
  await page.locator('[data-kpi="received"]').waitFor()
  const out = {}
  for (const k of ['received', 'closed', 'rated', 'resolution', 'satisfaction'])
    out[k] = Number(await page.locator(`[data-kpi="${k}"]`).getAttribute('data-value'))
  return out
}

// Element Plus tree-select / select: open it, type to filter, pick the option.
async function pickTree(page, scope, text) {
  await scope.locator('.el-select__wrapper').first().click()
  await page.keyboard.type(text)
  await page.locator('.el-select__popper:visible .el-tree-node__content', { hasText: text }).last().click()
}

async function check(name, fn) {
  const t0 = Date.now()
  try {
    await fn()
    results.push({ name, ok: true })
    log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`)
  } catch (e) {
    results.push({ name, ok: false })
    log(`FAIL ${name}: ${e.stack || e}`)
  }
}

function expect(cond, what) { if (!cond) throw new Error(what) }

async function main() {
  if (!existsSync(join(WEB, 'index.html'))) throw new Error('web/dist is not built (make web)')
  await check('messages: every key in Chinese and English, no text outside the catalogue', checkMessages)
  mkdirSync(SHOTS, { recursive: true })
  const base = await startServer()
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
  const content = '浏览器测试：我公司新办食品经营许可证变更，线上提交后一直提示材料不全，请帮忙协调。'
  let number = ''
  let before = null

  const leader = await newPage(base)
  const ent = await newPage(base, { mobile: true })
  const disp = await newPage(base)
  const hand = await newPage(base)

  await check('leader reads the dashboard', async () => {
    await login(leader, 'leader')
    expect(leader.url().includes('#/console/dashboard'), 'leader lands on the dashboard: ' + leader.url())
    before = await kpis(leader)
    expect(before.received > 0, 'demo requests counted')
  })

  await check('enterprise sees the API error next to the field', async () => {
    await login(ent, 'enterprise')
    expect(ent.url().includes('#/portal'), 'enterprise lands in the portal: ' + ent.url())
    await ent.getByText('郑州二七示范商贸有限公司').first().waitFor()
    await shot(ent, 'portal-home')
    await ent.goto(base + '/#/portal/requests/new')
    await ent.getByRole('button', { name: '提交' }).click()
    const item = ent.locator('.el-form-item', { has: ent.getByText('诉求内容', { exact: true }) })
    await item.locator('.el-form-item__error').waitFor()
    const msg = await item.locator('.el-form-item__error').innerText()
    expect(/内容|content/.test(msg), 'error names the content: ' + msg)
  })

  await check('enterprise submits a request in the portal', async () => {
    await ent.getByLabel('诉求内容').fill(content)
    await ent.getByLabel('地点').fill('大学路与政通路交叉口')
    await ent.locator('input[type=file]').setInputFiles({ name: '现场照片.png', mimeType: 'image/png', buffer: PNG })
    await ent.getByText('现场照片.png').waitFor()
    await ent.getByRole('button', { name: '提交' }).click()
    await ent.waitForURL(/#\/portal\/requests\/\d+/)
    number = (await ent.locator('.page-title .hint').innerText()).trim()
    expect(/^\d{8}-\d{6}$/.test(number), 'request number shown: ' + number)
    await ent.getByText('已受理').first().waitFor()
    await ent.locator('.atts').getByText('现场照片.png').waitFor()
    // a file the server does not accept: its reason appears at the upload button
    await ent.locator('.upl input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('plain text') })
    await ent.locator('.upl .el-form-item__error').waitFor()
    await shot(ent, 'portal-request')
  })

  await check('dispatcher dispatches it from the queue', async () => {
    await login(disp, 'dispatcher')
    expect(disp.url().includes('#/console/queue'), 'dispatcher lands on the queue')
    await disp.getByRole('button', { name: number }).click()
    const drawer = disp.locator('.req-drawer')
    await drawer.getByText(content).waitFor()
    await drawer.getByText('智能建议').waitFor()
    await shot(disp, 'console-queue-drawer')
    await drawer.locator('[data-action="dispatch"]').click()
    const dlg = disp.locator('.action-dialog')
    await dlg.waitFor()
    await pickTree(disp, dlg.locator('.el-form-item', { hasText: '承办部门' }), '登记注册科')
    await dlg.getByRole('button', { name: '确定' }).click()
    await drawer.locator('.el-tag', { hasText: '已派单' }).first().waitFor()
    await drawer.locator('.deadline').first().waitFor()
  })

  await check('handler signs and replies on the department desk', async () => {
    await login(hand, 'handler')
    expect(hand.url().includes('#/console/work'), 'handler lands on the department desk')
    await hand.getByRole('button', { name: number }).waitFor()
    await shot(hand, 'console-department-desk')
    await hand.getByRole('button', { name: number }).click()
    const drawer = hand.locator('.req-drawer')
    await drawer.locator('[data-action="sign"]').click()
    await hand.locator('.action-dialog').getByRole('button', { name: '确定' }).click()
    await drawer.locator('.el-tag', { hasText: '已签收' }).first().waitFor()
    await drawer.locator('[data-action="reply"]').click()
    const dlg = hand.locator('.action-dialog:visible')
    await dlg.getByLabel('答复 / 说明（企业可见）').fill('已与食品安全科核实，材料已补正，许可证变更已办结。')
    await dlg.getByRole('button', { name: '确定' }).click()
    await drawer.locator('.el-tag', { hasText: '已答复' }).first().waitFor()
    await shot(hand, 'console-request-drawer')
  })

  await check('enterprise rates the reply', async () => {
    await ent.reload()
    await ent.getByText('请对本次办理进行评价').waitFor()
    await ent.getByText('许可证变更已办结').first().waitFor()
    await ent.locator('.rate').getByText('满意', { exact: true }).click()
    await ent.locator('.rate').getByRole('button', { name: '提交' }).click()
    await ent.locator('.page-title').getByText('已办结').waitFor()
  })

  await check("the leader's dashboard counts it", async () => {
    const after = await kpis(leader)
    expect(after.received === before.received + 1, `received ${before.received} -> ${after.received}`)
    expect(after.closed === before.closed + 1, `closed ${before.closed} -> ${after.closed}`)
    expect(after.rated === before.rated + 1, `rated ${before.rated} -> ${after.rated}`)
    expect(after.satisfaction >= before.satisfaction, `satisfaction ${before.satisfaction} -> ${after.satisfaction}`)
    await leader.waitForTimeout(800)
    await shot(leader, 'dashboard')
    // drill-down: the received counter opens the requests behind it
    await leader.locator('[data-kpi="received"] button').click()
    await leader.locator('.el-drawer').getByRole('button', { name: number }).waitFor()
  })

  await check('a scanned 政企码 opens the card, and its button the request form', async () => {
    const code = await ent.evaluate(async () => {
      const me = await (await fetch('/api/v1/my/enterprise')).json()
      return (await (await fetch(`/api/v1/enterprises/${me.id}/code`)).json()).url
    })
    await ent.goto(code)
    await ent.getByText('郑州二七示范商贸有限公司').first().waitFor()
    await shot(ent, 'portal-enterprise-card')
    await ent.getByRole('link', { name: /提出诉求/ }).click()
    await ent.waitForURL(/#\/portal\/requests\/new\?enterprise_code=/)
    await ent.locator('.ent-card').getByText('郑州二七示范商贸有限公司').waitFor()
  })

  await check("one role cannot open another role's pages", async () => {
    const cases = [
      [ent, '/console/queue'], [ent, '/console/dashboard'], [hand, '/console/admin/users'],
      [hand, '/console/queue'], [disp, '/portal'], [disp, '/console/admin/categories'], [leader, '/portal/requests/new'],
    ]
    for (const [page, path] of cases) {
      await page.goto(page.base + '/#' + path)
      await page.getByText('无权访问', { exact: true }).waitFor()
      expect(page.url().includes('#/forbidden'), `${path} is forbidden`)
    }
    // the menu lists only what the role may open
    await hand.goto(base + '/#/console/work')
    await hand.locator('.menu').waitFor()
    const menu = await hand.locator('.menu').innerText()
    expect(!menu.includes('派单队列') && !menu.includes('系统管理') && menu.includes('部门工作台'), 'handler menu: ' + menu)
    // and the API refuses the same whatever the UI shows
    const st = await ent.evaluate(async () => (await fetch('/api/v1/requests?view=to_dispatch')).status)
    expect(st === 200, 'enterprise lists only its own requests')
    const st2 = await ent.evaluate(async () => (await fetch('/api/v1/users')).status)
    expect(st2 === 403, 'enterprise may not list users: ' + st2)
  })

  await check('the grid map shows the real grids, and a click opens the grid drawer', async () => {
    await leader.goto(base + '/#/console/grids')
    const map = leader.locator('.gridmap[data-features]')
    await leader.waitForFunction(() => Number((document.querySelector('.gridmap') || {}).dataset?.features || 0) > 0)
    const n = Number(await map.getAttribute('data-features'))
    const api = await leader.evaluate(async () => (await (await fetch('/api/v1/grids/map.geojson?level=community')).json()).features.length)
    expect(n === api && n > 10, `community polygons drawn ${n}, API ${api}`)
    expect(await leader.locator('path.grid-poly').count() === n, 'one SVG polygon per grid')
    await shot(leader, 'console-grid-map')
    // a click on a polygon opens its drawer with what GET /grids/{id} says
    await leader.locator('path.grid-poly').nth(7).click({ force: true })
    const drawer = leader.locator('.grid-drawer')
    await drawer.locator('[data-metric="enterprises"]').waitFor()
    const title = (await drawer.locator('.el-drawer__title').innerText()).trim()
    const code = (await drawer.locator('.code').innerText()).split('·')[0].trim()
    const g = await leader.evaluate(async (c) => (await (await fetch('/api/v1/grids?level=community&q=' + c)).json()).items[0], code)
    expect(g && g.name === title, `drawer ${title} ${code} vs API ${g && g.name}`)
    const ents = Number(await drawer.locator('[data-metric="enterprises"] b').innerText())
    expect(ents === g.enterprises, `enterprises ${ents} vs ${g.enterprises}`)
    await shot(leader, 'console-grid-drawer')
    // its requests: the list filtered by the grid (and the grids below it)
    await drawer.getByRole('button', { name: '网格内诉求' }).click()
    await leader.waitForURL(/#\/console\/requests\?grid_id=\d+/)
    await leader.locator('[data-filter="grid"]', { hasText: title }).waitFor()
  })

  await check("the analysis page's matrix total equals the API's, and a cell opens its requests", async () => {
    await leader.goto(base + '/#/console/analysis')
    const card = leader.locator('.matrix-card[data-total]')
    await card.waitFor()
    const shown = Number(await leader.locator('[data-grand-total]').innerText())
    const api = await leader.evaluate(async () => {
      const day = (d) => new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai' }).format(new Date(Date.now() + d * 86400000))
      return (await (await fetch(`/api/v1/analysis/matrix?level=street&source=all&from=${day(-89)}&to=${day(0)}`)).json()).total
    })
    expect(shown === api && api > 0, `matrix total ${shown}, API ${api}`)
    expect(Number(await leader.locator('[data-kpi="total"]').getAttribute('data-value')) === api, 'the total counter')
    await leader.waitForTimeout(600)
    await shot(leader, 'console-analysis')
    // requests only: a cell's number is the number of requests the list shows for its grid and category
    await leader.locator('.filters').getByText('诉求', { exact: true }).click()
    await leader.waitForFunction(() => document.querySelector('[data-kpi="total"]'))
    await leader.waitForTimeout(500)
    const cell = leader.locator('[data-cell]').first()
    const want = Number(await cell.innerText())
    await cell.click()
    await leader.waitForURL(/#\/console\/requests\?.*grid_id=\d+.*category_id=\d+|#\/console\/requests\?.*category_id=\d+.*grid_id=\d+/)
    await leader.locator('.drill-note').waitFor()
    await leader.locator('.req-table tbody tr').first().waitFor()
    const rows = await leader.locator('.req-table tbody tr').count()
    expect(rows === want, `cell ${want}, requests listed ${rows}`)
  })

  await check('a grid worker sees only its grid and cannot open the grid administration', async () => {
    const gw = await newPage(base)
    await login(gw, 'gridworker')
    for (const path of ['/console/admin/grids', '/console/admin/users']) {
      await gw.goto(base + '/#' + path)
      await gw.getByText('无权访问', { exact: true }).waitFor()
    }
    await gw.goto(base + '/#/console/grids')
    await gw.locator('.el-radio-button', { hasText: '单元网格' }).click()
    await gw.waitForFunction(() => (document.querySelector('.gridmap') || {}).dataset?.level === 'unit')
    expect(Number(await gw.locator('.gridmap').getAttribute('data-features')) === 1, 'one unit grid on the map')
    const menu = await gw.locator('.menu').innerText()
    expect(!menu.includes('网格管理'), 'no grid administration in the menu')
    const st = await gw.evaluate(async () => (await fetch('/api/v1/grids/import?dry_run=1', { method: 'POST', body: '{}' })).status)
    expect(st === 403, 'the API refuses an import: ' + st)
    await gw.context().close()
  })

  await check('a grid worker records a visit on the phone; its finding becomes a request the console lists', async () => {
    const has = await disp.evaluate(async () => (await fetch('/api/v1/visit-policies')).status)
    if (has === 404) { log('     (skipped: this server has no visit API yet)'); return }
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
      locale: 'zh-CN', geolocation: { latitude: 34.70, longitude: 113.60 }, permissions: ['geolocation'] })
    const gw = await ctx.newPage()
    gw.setDefaultTimeout(15000)
    gw.on('pageerror', (e) => pageErrors.push(`${e.message}`))
    gw.base = base
    await login(gw, 'gridworker')
    expect(gw.url().includes('#/field'), 'a grid worker lands on the field page: ' + gw.url())
    await gw.locator('[data-count="overdue"] b').waitFor()
    await gw.waitForTimeout(400)
    await shot(gw, 'field-tasks')
    const ent = await gw.evaluate(async () => (await (await fetch('/api/v1/enterprises?status=active&limit=1')).json()).items[0])
    await gw.goto(base + '/#/field/visit?enterprise_id=' + ent.id)
    await gw.getByText(ent.name).first().waitFor()
    // the API's refusal at its field
    await gw.getByRole('button', { name: '保存走访记录' }).click()
    await gw.locator('.el-form-item', { has: gw.getByText('走访情况', { exact: true }) }).locator('.el-form-item__error').waitFor()
    await gw.getByLabel('接待人姓名').fill('王伟')
    await gw.getByLabel('接待人职务').fill('总经理')
    await gw.getByLabel('走访情况').fill('浏览器测试：了解企业生产经营情况，宣讲惠企政策。')
    await gw.getByRole('button', { name: '获取当前位置' }).click()
    await gw.locator('[data-position]').waitFor()
    await gw.getByRole('button', { name: /添加问题/ }).click()
    await gw.getByLabel('问题描述').fill('浏览器测试：门前道路破损，货车进出困难。')
    await gw.locator('[data-finding="0"] .el-cascader').click()
    await gw.locator('.el-cascader-menu:visible').last().locator('.el-cascader-node').first().locator('.el-radio').click()
    await gw.keyboard.press('Escape')
    await gw.locator('input[type=file]').setInputFiles({ name: '门前道路.png', mimeType: 'image/png', buffer: PNG })
    await shot(gw, 'field-visit-form')
    await gw.getByRole('button', { name: '保存走访记录' }).click()
    await gw.locator('[data-result]').waitFor()
    const far = await gw.locator('[data-warning="far_from_enterprise"]').count()
    const located = ent.lat !== null && ent.lat !== undefined
    expect(!located || far === 1, 'the far-away warning is shown')
    const number = (await gw.locator('[data-raised]').first().innerText()).split('·')[0].trim()
    expect(/^\d{8}-\d{6}$/.test(number), 'the finding became request ' + number)
    await shot(gw, 'field-visit-saved')
    // the console: the request in the list, the visit in the records
    await disp.goto(base + '/#/console/requests?q=' + number)
    await disp.getByRole('button', { name: number }).waitFor()
    await leader.goto(base + '/#/console/visits')
    const row = leader.locator('.el-table__row', { hasText: '浏览器测试：了解企业' })
    await row.waitFor()
    await row.click()
    await leader.locator('.visit-drawer [data-raised]', { hasText: number }).waitFor()
    await ctx.close()
  })

  await check('an administrator sees a refused setting at its field', async () => {
    const adm = await newPage(base)
    await login(adm, 'admin')
    await adm.goto(base + '/#/console/admin/settings')
    const input = adm.getByLabel('响应率权重 %')
    await input.fill('20')
    await adm.getByRole('button', { name: '保存' }).click()
    const item = adm.locator('.el-form-item', { has: input })
    await item.locator('.el-form-item__error').waitFor()
    const msg = await item.locator('.el-form-item__error').innerText()
    expect(/100/.test(msg), 'the weights must sum to 100: ' + msg)
    await shot(adm, 'console-admin-settings')
    // grid administration: a dry run of a survey's file shows its errors by feature and field, writing nothing
    await adm.goto(base + '/#/console/admin/grids')
    const fc = await adm.evaluate(async () => {
      const d = await (await fetch('/api/v1/grids/map.geojson?level=community')).json()
      const fs = d.features.slice(0, 4).map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { code: f.properties.code, name: f.properties.name } }))
      fs[2].properties.code = '12'
      return { type: 'FeatureCollection', features: fs }
    })
    await adm.locator('input[type=file]').setInputFiles({ name: 'survey.geojson', mimeType: 'application/geo+json', buffer: Buffer.from(JSON.stringify(fc)) })
    await adm.locator('[data-step="dry-run"]').click()
    await adm.locator('.report[data-outcome="errors"]').waitFor()
    await adm.locator('.errors').getByText('features[2].properties.code').waitFor()
    expect(await adm.locator('[data-step="import"]').isDisabled(), 'no import after a refused dry run')
    await shot(adm, 'console-grid-import-errors')
    await adm.context().close()
  })

  await check('the UI switches to English', async () => {
    await disp.goto(base + '/#/console/queue')
    await disp.getByRole('button', { name: 'English' }).click()
    await disp.getByText('Requests to dispatch').first().waitFor()
    await disp.getByRole('button', { name: '中文' }).click()
    await disp.getByText('待派单诉求').first().waitFor()
  })

  await check('no script errors or CSP violations', async () => {
    expect(pageErrors.length === 0, 'page errors:\n' + pageErrors.join('\n'))
  })
}

let fatal = null
try {
  await main()
} catch (e) {
  fatal = e
  log('FAIL setup: ' + (e.stack || e))
} finally {
  if (browser) await browser.close().catch(() => {})
  try { await stopServer() } catch (e) { fatal = fatal || e; log('FAIL server: ' + e.message) }
  if (tmp) rmSync(tmp, { recursive: true, force: true })
}
const failed = results.filter((r) => !r.ok).length + (fatal ? 1 : 0)
log(`screenshots: ${SHOTS}`)
log(`browser: ${results.length - results.filter((r) => !r.ok).length} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
