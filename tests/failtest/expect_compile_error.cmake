# cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=regex -P expect_compile_error.cmake
# Passes only if building TARGET fails AND the compiler output matches EXPECT.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${TARGET} failed to compile, but not with '${EXPECT}':\n${out}\n${err}")
endif()
message(STATUS "${TARGET} failed to compile as expected")
