import { defineConfig } from "vite";

// Tauri loads the built files from ui/dist (tauri.conf.json "frontendDist").
export default defineConfig({
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true, target: "es2021" },
  test: { include: ["tests/**/*.test.ts"], environment: "node" },
});
