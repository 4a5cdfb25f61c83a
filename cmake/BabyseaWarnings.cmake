# Warnings for everything babysea builds itself. -Wall -Wextra and friends are
# always on; they are errors only with BABYSEA_WERROR (the top-level CMakeLists
# defaults it to ON when babysea is the top-level project and OFF when it is
# built as a subproject, where a newer compiler's new warning must not break
# someone else's build).
function(babysea_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wno-unused-parameter>
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic>)
  if(BABYSEA_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(BABYSEA_SANITIZE)
    # GCC's sanitizer instrumentation makes -Wmaybe-uninitialized report false
    # positives inside libstdc++ (std::function, std::regex); keep it off there.
    target_compile_options(${target} PRIVATE -fsanitize=${BABYSEA_SANITIZE} -fno-omit-frame-pointer
      -fno-sanitize-recover=all $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
    target_link_options(${target} PRIVATE -fsanitize=${BABYSEA_SANITIZE})
  endif()
endfunction()

# Sanitizer flags for final link steps (libraries and executables).
function(babysea_sanitize_link target)
  if(BABYSEA_SANITIZE)
    target_link_options(${target} PRIVATE -fsanitize=${BABYSEA_SANITIZE})
  endif()
endfunction()
