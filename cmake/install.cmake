# What `cmake --install` puts where (the .deb and the PKGBUILD use it too):
#   bin/xpatch, lib/xpatch/xpatch-{lief,archive}.so (shared builds; tools/xpatch)
#   bin/xpatch-hook                       the hooks' one program
#   share/xpatch/hooks/{apt,dpkg,pacman}  the managers' hook files, shipped
#                                         but off until `xpatch-hook enable`
# The hook files name /usr/bin/xpatch-hook: install with --prefix /usr (into
# a root: DESTDIR=ROOT cmake --install BUILD --prefix /usr).
include(GNUInstallDirs)
set(_hooks ${PROJECT_SOURCE_DIR}/scripts/hooks)
set(_share ${CMAKE_INSTALL_DATADIR}/xpatch/hooks)
install(PROGRAMS ${_hooks}/xpatch-hook DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${_hooks}/apt/80xpatch DESTINATION ${_share}/apt)
install(FILES ${_hooks}/dpkg/xpatch DESTINATION ${_share}/dpkg)
install(FILES ${_hooks}/pacman/xpatch-setup.hook ${_hooks}/pacman/xpatch-retarget.hook DESTINATION ${_share}/pacman)
install(FILES ${_hooks}/staging/README DESTINATION ${_share}/staging)
