import { createI18n } from 'vue-i18n'
import zh from './zh'
import en from './en'

const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('yq.lang') : null

export const i18n = createI18n({
  legacy: false,
  locale: saved === 'en' ? 'en' : 'zh',
  fallbackLocale: 'zh',
  messages: { zh, en },
})

export function setLang(l) {
  i18n.global.locale.value = l
  localStorage.setItem('yq.lang', l)
  document.documentElement.lang = l === 'en' ? 'en' : 'zh-CN'
}
