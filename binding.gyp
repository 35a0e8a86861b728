{
  "targets": [
    {
      "target_name": "posix_ipc",
      "sources": [
        "native/posix/fd.cc",
        "native/posix/process.cc",
        "native/posix/semaphore.cc",
        "native/posix/shm.cc",
        "native/posix/futex.cc",
        "native/posix/socket.cc",
        "native/posix/tcp.cc",
        "native/binding/addon.cc",
        "native/binding/errors.cc",
        "native/binding/waiter.cc",
        "native/binding/fd.cc",
        "native/binding/poller.cc",
        "native/binding/socket.cc",
        "native/binding/tcp.cc",
        "native/binding/process.cc",
        "native/binding/semaphore.cc",
        "native/binding/shm.cc",
        "native/binding/futex.cc",
        "native/binding/unnamed_semaphore.cc",
        "native/binding/teardown.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-lpthread"] }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "WARNING_CFLAGS": ["-Wall", "-Wextra"]
          }
        }],
        ["asan=='true'", {
          "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ],
  "variables": { "asan%": "false" }
}
