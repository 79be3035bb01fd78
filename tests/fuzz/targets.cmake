# The libFuzzer targets (tests/fuzz/fuzz_<name>.cpp), read by tests/fuzz/CMakeLists.txt (which
# builds them in the asan lane) and tests/CMakeLists.txt (which registers them with CTest).
set(MLOPS_FUZZ_TARGETS
  json model_uri mlmodel lock mlflow_answers image_ref http_headers docker_config
  oci_layout mlops_yaml deploy_render template render_parse example_check commit_record prometheus_answer)
