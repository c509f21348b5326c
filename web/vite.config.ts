// Builds the two pages into the control plane's package data. Everything the pages need is
// bundled here: nothing is loaded from a CDN or at run time.
import { resolve } from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: "/static/",
  build: {
    outDir: resolve(here, "../control_plane/static"),
    emptyOutDir: true,
    // Safari 15 and Chrome 100 on phones: old enough for the victims' phones we expect.
    target: ["es2020", "safari15", "chrome100"],
    sourcemap: false,
    assetsInlineLimit: 0,
    // livekit-client alone is ~580 kB (150 kB gzipped); one library, not worth splitting.
    chunkSizeWarningLimit: 700,
    rollupOptions: {
      input: {
        join: resolve(here, "join.html"),
        console: resolve(here, "console.html"),
      },
    },
  },
});
