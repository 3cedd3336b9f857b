# cmake -DSOURCE_DIR=... -DBUILD_DIR=... -DPROJECT_BUILD=... -P run_consumer_test.cmake
# Installs oneclass from the project's build (its headers, its kernel library already built) into
# a scratch prefix, then builds and runs the consumer project against it with the compiler's
# default flags; then the same consumer through add_subdirectory with the kernels compiled inline
# (ONECLASS_DISPATCH=OFF: the kernel library's four levels are not compiled a second time).
file(REMOVE_RECURSE ${BUILD_DIR})
set(prefix ${BUILD_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${PROJECT_BUILD} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${BUILD_DIR}/app -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${BUILD_DIR}/app)
run(${BUILD_DIR}/app/consumer)
# The same consumer with add_subdirectory (how FetchContent consumes it too).
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${BUILD_DIR}/sub -DONECLASS_SOURCE=${SOURCE_DIR}
    -DCMAKE_BUILD_TYPE=Release -DONECLASS_DISPATCH=OFF)
run(${CMAKE_COMMAND} --build ${BUILD_DIR}/sub)
run(${BUILD_DIR}/sub/consumer)
message(STATUS "consumer built against ${prefix} and via add_subdirectory, and ran")
