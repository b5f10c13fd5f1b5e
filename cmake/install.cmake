# `cmake --install BUILD [--prefix /usr]`: the binaries, the helpers that `skiff`
# execs for its offline verbs (looked up next to skiff, then in ../libexec/skiff/),
# the systemd unit, bash completion and the user docs.
include(GNUInstallDirs)
install(TARGETS skiff skiffd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS skiff_offline RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/skiff)
if(TARGET skiff_img)
  install(TARGETS skiff_img RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/skiff)
endif()
install(FILES packaging/skiffd.service DESTINATION lib/systemd/system)
install(FILES packaging/skiff.bash-completion
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions RENAME skiff)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
