{
  "variables": {
    "libdeflate%": "<!(sh -c 'test -f /usr/include/libdeflate.h && test -f /usr/lib/$(gcc -dumpmachine)/libdeflate.a && echo /usr/lib/$(gcc -dumpmachine)/libdeflate.a || echo none')"
  },
  "targets": [
    {
      "target_name": "kiln_native",
      "sources": ["src/addon.cc", "src/walk.cc", "src/sha256.cc", "src/deflate.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": ["-ldl", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["libdeflate!='none'", {
          "defines": ["KILN_LIBDEFLATE"],
          "libraries": ["<(libdeflate)"]
        }]
      ]
    }
  ]
}
