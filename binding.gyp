{
  "variables": {"lowbit_mpi%": 0},
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno"],
    "cflags!": ["-fno-exceptions"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"]
  },
  "targets": [
    {
      "target_name": "lowbit_avx512",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/src/kernels/avx512.cc", "native/src/kernels/q4_avx512.cc", "native/src/kernels/q4_gemm_avx512.cc", "native/src/kernels/q8_avx512.cc", "native/src/kernels/q4a8_avx512.cc"],
        "cflags_cc": ["-Wno-uninitialized", "-Wno-maybe-uninitialized", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mavx512vnni", "-mfma", "-mf16c", "-mavx2"]
      }]]
    },
    {
      "target_name": "lowbit_amx",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/src/kernels/amx.cc", "native/src/kernels/amx_q4_0.cc"],
        "cflags_cc": ["-Wno-uninitialized", "-Wno-maybe-uninitialized", "-mamx-tile", "-mamx-int8", "-mamx-bf16", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16", "-mavx512vnni", "-mfma", "-mf16c", "-mavx2"]
      }]]
    },
    {
      "target_name": "lowbit_avx2",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/src/kernels/avx2.cc", "native/src/kv/kv_f16_avx2.cc", "native/src/kv/kv_q8_avx2.cc", "native/src/kernels/q4_avx2.cc", "native/src/kernels/q4_gemm_avx2.cc", "native/src/kernels/q8_avx2.cc", "native/src/kernels/q4a8_avx2.cc"],
        "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
      }]]
    },
    {
      "target_name": "lowbit_ggml",
      "type": "static_library",
      "sources": ["native/src/kernels/ggml_ref.cc", "native/src/kernels/ggml_f32_ref.cc", "native/src/ggml_quants.cc",
                  "native/src/formats/kquant.cc", "native/src/formats/kquant_quantize.cc", "native/src/formats/q2_k.cc", "native/src/formats/q3_k.cc", "native/src/formats/q4_k.cc", "native/src/formats/q5_k.cc", "native/src/formats/q6_k.cc",
                  "native/src/formats/q4_1.cc", "native/src/formats/q5_0.cc", "native/src/formats/q5_1.cc", "native/src/formats/iq4_nl.cc", "native/src/formats/iq4_xs.cc"],
      "cflags_cc": ["-ffp-contract=off"]
    },
    {
      "target_name": "lowbit_ggml_avx2",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/src/kernels/ggml_avx2.cc", "native/src/kernels/ggml_f32_avx2.cc",
                    "native/src/formats/q2_k_avx2.cc", "native/src/formats/q3_k_avx2.cc", "native/src/formats/q4_k_avx2.cc", "native/src/formats/q5_k_avx2.cc", "native/src/formats/q6_k_avx2.cc",
                    "native/src/formats/q4_1_avx2.cc", "native/src/formats/q5_0_avx2.cc", "native/src/formats/q5_1_avx2.cc", "native/src/formats/iq4_nl_avx2.cc", "native/src/formats/iq4_xs_avx2.cc"],
        "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-ffp-contract=off"]
      }]]
    },
    {
      "target_name": "lowbit_ggml_avx512",
      "type": "static_library",
      "conditions": [["target_arch=='x64'", {
        "sources": ["native/src/kernels/ggml_avx512.cc", "native/src/formats/q2_k_avx512.cc", "native/src/formats/q3_k_avx512.cc", "native/src/formats/q4_k_avx512.cc", "native/src/formats/q5_k_avx512.cc", "native/src/formats/q6_k_avx512.cc",
                    "native/src/formats/q4_1_avx512.cc", "native/src/formats/q5_0_avx512.cc", "native/src/formats/q5_1_avx512.cc", "native/src/formats/iq4_nl_avx512.cc", "native/src/formats/iq4_xs_avx512.cc"],
        "cflags_cc": ["-Wno-uninitialized", "-Wno-maybe-uninitialized", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512vnni", "-mfma", "-mf16c", "-mavx2", "-ffp-contract=off"]
      }]]
    },
    {
      "target_name": "lowbit_core",
      "type": "static_library",
      "dependencies": ["lowbit_avx512", "lowbit_amx", "lowbit_avx2", "lowbit_ggml", "lowbit_ggml_avx2", "lowbit_ggml_avx512"],
      "export_dependent_settings": ["lowbit_avx512", "lowbit_amx", "lowbit_avx2", "lowbit_ggml", "lowbit_ggml_avx2", "lowbit_ggml_avx512"],
      "sources": [
        "native/src/cpu.cc",
        "native/src/threadpool.cc",
        "native/src/kernels/ref.cc",
        "native/src/kernels/q4_ref.cc",
        "native/src/kernels/q4a8_ref.cc",
        "native/src/quantize.cc",
        "native/src/kernels/registry.cc",
        "native/src/formats/registry.cc",
        "native/src/formats/f32.cc",
        "native/src/formats/bf16.cc",
        "native/src/formats/q8.cc",
        "native/src/formats/q4.cc",
        "native/src/formats/q4a8.cc",
        "native/src/formats/ggml_blocks.cc",
        "native/src/formats/kquant_weight.cc",
        "native/src/weights.cc",
        "native/src/weights_io.cc",
        "native/src/weights_shard.cc",
        "native/src/matmul.cc",
        "native/src/ops.cc",
        "native/src/kvcache.cc",
        "native/src/kv/kv_f16.cc",
        "native/src/kv/kv_q8.cc",
        "native/src/graph.cc",
        "native/src/model.cc",
        "native/src/mapped_file.cc",
        "native/src/act_stats.cc",
        "native/src/act_hessian.cc",
        "native/src/gptq.cc",
        "native/src/addon_gptq.cc",
        "native/src/bandwidth.cc",
        "native/src/peak.cc",
        "native/src/ggml_dequant.cc",
        "native/src/comm.cc",
        "native/src/tp_step.cc"
      ],
      "conditions": [["lowbit_mpi==1", {
        "defines": ["LOWBIT_MPI"],
        "cflags_cc": ["<!@(mpicxx --showme:compile)"]
      }]]
    },
    {
      "target_name": "lowbit",
      "dependencies": ["lowbit_core", "lowbit_avx512", "lowbit_avx2", "lowbit_ggml", "lowbit_ggml_avx2", "lowbit_ggml_avx512"],
      "sources": [
        "native/src/addon.cc",
        "native/src/addon_ggml.cc",
        "native/src/addon_io.cc",
        "native/src/addon_dequant.cc",
        "native/src/addon_tp.cc"
      ],
      "libraries": ["-lpthread"],
      "conditions": [["lowbit_mpi==1", {
        "defines": ["LOWBIT_MPI"],
        "cflags_cc": ["<!@(mpicxx --showme:compile)"],
        "libraries": ["<!@(mpicxx --showme:link)"]
      }]]
    },
    {
      "target_name": "lowbit_test",
      "dependencies": ["lowbit_core", "lowbit_avx512", "lowbit_avx2", "lowbit_ggml", "lowbit_ggml_avx2", "lowbit_ggml_avx512"],
      "sources": [
        "native/src/addon_test.cc",
        "native/src/addon_kernels.cc",
        "native/src/addon_kernels_ggml.cc",
        "native/src/addon_ggml.cc",
        "native/src/addon_io.cc"
      ],
      "libraries": ["-lpthread"],
      "conditions": [["lowbit_mpi==1", {
        "defines": ["LOWBIT_MPI"],
        "cflags_cc": ["<!@(mpicxx --showme:compile)"],
        "libraries": ["<!@(mpicxx --showme:link)"]
      }]]
    }
  ],
  "conditions": [["OS=='linux'", {
    "targets": [{
      "target_name": "lowbit-sandbox",
      "type": "executable",
      "sources": ["native/sandbox/lowbit-sandbox.c"],
      "cflags": ["-O2", "-Wall"]
    }]
  }]]
}
