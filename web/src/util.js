// Formatting (Beijing time, whatever the browser's zone), a shared clock for
// live countdowns, and API errors shown next to the field they name.
import { reactive, ref, onUnmounted } from 'vue'
import { ElMessage } from 'element-plus'
import { i18n } from './i18n'

const fmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', hour12: false,
})
function parts(ms) {
  const o = {}
  for (const p of fmt.formatToParts(new Date(ms))) o[p.type] = p.value
  return o
}
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '—'
  const p = parts(ms)
  return `${p.year}-${p.month}-${p.day} ${p.hour === '24' ? '00' : p.hour}:${p.minute}`
}
export function fmtDate(ms) {
  if (ms === null || ms === undefined) return '—'
  const p = parts(ms)
  return `${p.year}-${p.month}-${p.day}`
}
// Today in Shanghai as YYYY-MM-DD, optionally shifted by days.
export function shanghaiDay(shiftDays = 0) {
  return fmtDate(Date.now() + shiftDays * 86400000)
}
export function pct(v, digits = 1) {
  return v === null || v === undefined ? '—' : `${Number(v).toFixed(digits)}%`
}

// One clock for every countdown on the page.
export const now = ref(Date.now())
setInterval(() => { now.value = Date.now() }, 1000)

export function durationText(ms) {
  const t = i18n.global.t
  const abs = Math.abs(ms)
  const d = Math.floor(abs / 86400000)
  const h = Math.floor((abs % 86400000) / 3600000)
  const m = Math.floor((abs % 3600000) / 60000)
  const s = Math.floor((abs % 60000) / 1000)
  if (d > 0) return `${t('dl.d', { n: d })}${t('dl.h', { n: h })}`
  if (h > 0) return `${t('dl.h', { n: h })}${t('dl.m', { n: m })}`
  return `${m}:${String(s).padStart(2, '0')}`
}

// Element Plus tag type for a deadline state.
export function stateTagType(s) {
  return { on_time: 'success', due_soon: 'warning', overdue: 'danger' }[s] || 'info'
}
export function reqStateType(s) {
  return {
    received: 'primary', returned: 'warning', dispatched: 'primary', signed: 'primary',
    in_progress: 'primary', paused: 'info', replied: 'success', closed: 'success',
    merged: 'info', voided: 'info',
  }[s] || 'info'
}

// API errors next to their field: errs[field] is what el-form-item :error shows.
export function useFieldErrors(fields) {
  const errs = reactive({})
  function clear() { for (const k of Object.keys(errs)) delete errs[k] }
  function show(e) {
    clear()
    const loc = i18n.global.locale.value
    const text = e && e.text ? e.text(loc) : String(e && e.message ? e.message : e)
    const f = e && e.field
    // "days[0].day" and "attributes[2].code" name an item: show it at the list
    const base = f ? f.replace(/[[.].*$/, '') : ''
    if (f && fields.includes(f)) errs[f] = text
    else if (base && fields.includes(base)) errs[base] = text
    else ElMessage({ type: 'error', message: text, showClose: true })
    return text
  }
  return { errs, clear, show }
}

export function toastError(e) {
  const loc = i18n.global.locale.value
  ElMessage({ type: 'error', showClose: true, message: e && e.text ? e.text(loc) : String(e) })
}

// Poll fn every ms while the component lives.
export function usePoll(fn, ms) {
  const id = setInterval(fn, ms)
  onUnmounted(() => clearInterval(id))
}

// The clock that matters now: an overdue one first, else signing while
// dispatched, the return visit once replied, else the reply.
export function currentDeadline(r) {
  const d = r.deadlines || {}
  for (const k of ['sign', 'handle', 'visit']) if (d[k] && d[k].state === 'overdue') return { d: d[k], kind: k }
  if (r.state === 'dispatched' && d.sign && d.sign.state) return { d: d.sign, kind: 'sign' }
  if (r.state === 'replied' && d.visit) return { d: d.visit, kind: 'visit' }
  if (d.handle) return { d: d.handle, kind: 'handle' }
  return { d: null, kind: 'handle' }
}
