# Warnings are errors for everything babysea builds itself.
function(babysea_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor -Wno-unused-parameter>
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic -Werror>)
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
