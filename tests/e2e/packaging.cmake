# The hooks under the real package managers, and the packages of xpatch
# itself. Each test that cannot run here (not root, a tool or the network
# missing) exits 77: CTest reports it as skipped, never as passed.
set(_pm_tests e2e.hooks e2e.pm.pacman)
add_test(NAME e2e.pm.pacman
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/e2e/pacman.sh ${XPATCH_BIN} ${CMAKE_BINARY_DIR} ${FIXTURES})
set_tests_properties(${_pm_tests} PROPERTIES FIXTURES_REQUIRED fx SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME e2e.pm.apt COMMAND bash ${CMAKE_SOURCE_DIR}/tests/e2e/apt.sh ${XPATCH_BIN} ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.pm.apt PROPERTIES FIXTURES_REQUIRED fx SKIP_RETURN_CODE 77 TIMEOUT 900)
add_test(NAME e2e.pm.stage COMMAND bash ${CMAKE_SOURCE_DIR}/tests/e2e/stage.sh ${XPATCH_BIN} ${CMAKE_BINARY_DIR})
set_tests_properties(e2e.pm.stage PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
# Not repeated in the sanitizer run: xpatch runs chrooted there, where
# pacman mounts no /proc (ASan needs /proc/self/maps), and the apt test's
# debootstrap would only fetch the same root again.
set_tests_properties(e2e.pm.pacman e2e.pm.apt PROPERTIES LABELS no-sanitize)
