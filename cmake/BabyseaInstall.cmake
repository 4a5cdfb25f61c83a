include(CMakePackageConfigHelpers)

install(TARGETS babysea_static babysea_shared EXPORT babyseaTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/babysea DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/babysea/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/babysea)
install(FILES capi/babysea.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT babyseaTargets NAMESPACE babysea::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/babysea)

configure_package_config_file(cmake/babyseaConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/babyseaConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/babysea)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/babyseaConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/babyseaConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/babyseaConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/babysea)

# The .pc file is relocatable: paths are relative to where it is installed.
file(RELATIVE_PATH BABYSEA_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/babysea.pc.in ${CMAKE_CURRENT_BINARY_DIR}/babysea.pc @ONLY)
configure_file(cmake/babysea-c.pc.in ${CMAKE_CURRENT_BINARY_DIR}/babysea-c.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/babysea.pc ${CMAKE_CURRENT_BINARY_DIR}/babysea-c.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
