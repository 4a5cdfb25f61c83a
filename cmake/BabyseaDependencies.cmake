# Dependencies come from Debian bookworm packages (see README).
find_package(Threads REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(simdjson REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(sodium REQUIRED IMPORTED_TARGET libsodium)
# libpq (Debian libpq-dev) for the PostgreSQL store.
pkg_check_modules(libpq REQUIRED IMPORTED_TARGET libpq)
# hiredis (Debian libhiredis-dev) for the shared cache (src/cache). Linked
# everywhere, but its compile flags (its include dir holds generic names such
# as read.h and sds.h) apply only to the one file that includes it
# (src/cache/CMakeLists.txt).
pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET hiredis)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS url json)
find_package(OpenSSL REQUIRED)

function(babysea_link_private_deps target)
  target_link_libraries(${target} PRIVATE
    SQLite::SQLite3 simdjson::simdjson PkgConfig::sodium PkgConfig::libpq $<LINK_ONLY:PkgConfig::hiredis> Boost::url Boost::json
    OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
  babysea_sanitize_link(${target})
endfunction()
