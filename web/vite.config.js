// Vite build of the web UI into web/dist, served by `yiqiban serve` at /.
// `npm run dev` proxies the API to a server on 127.0.0.1:8080 (make demo).
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

const api = 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [vue()],
  base: '/',
  define: {
    __VUE_I18N_FULL_INSTALL__: true,
    __VUE_I18N_LEGACY_API__: false,
    __INTLIFY_PROD_DEVTOOLS__: false,
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: false,
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': api, '/e/': api, '/healthz': api },
  },
})
