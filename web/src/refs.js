// Reference lists that many pages need, fetched once per page load.
import { api } from './api'

const cache = {}
function once(key, fn) {
  if (!cache[key]) cache[key] = fn().catch((e) => { delete cache[key]; throw e })
  return cache[key]
}
export const loadDepts = () => once('depts', async () => (await api.get('/departments')).items || [])
export const loadCategories = () => once('cats', async () => (await api.get('/request-categories')).items || [])
export function forget(key) { delete cache[key] }

// Category tree for el-cascader / el-tree-select from the flat list.
export function categoryTree(items, onlyActive = true) {
  const byId = new Map()
  const roots = []
  for (const c of items) {
    if (onlyActive && !c.active) continue
    byId.set(c.id, { value: c.id, label: c.name, children: [] , raw: c })
  }
  for (const c of items) {
    const n = byId.get(c.id)
    if (!n) continue
    const p = c.parent_id && byId.get(c.parent_id)
    if (p) p.children.push(n); else roots.push(n)
  }
  for (const n of byId.values()) if (!n.children.length) delete n.children
  return roots
}
export function deptTree(items) {
  const byId = new Map()
  const roots = []
  for (const d of items) byId.set(d.id, { value: d.id, label: d.name, children: [], raw: d })
  for (const d of items) {
    const n = byId.get(d.id)
    const p = d.parent_id && byId.get(d.parent_id)
    if (p) p.children.push(n); else roots.push(n)
  }
  for (const n of byId.values()) if (!n.children.length) delete n.children
  return roots
}
