// Vite 8 builds the dashboard (web/ → web/dist) with its built-in JSX transform (automatic runtime), no
// plugin. `npx vite web` serves it for development and forwards /api to a running manager ($OTA_API,
// default http://127.0.0.1:8080, i.e. `ota up`); open http://localhost:5173/#token=<token>.
import { defineConfig } from 'vite';

export default defineConfig({
  server: { proxy: { '/api': process.env['OTA_API'] ?? 'http://127.0.0.1:8080' } },
  build: { outDir: 'dist', emptyOutDir: true },
});
