# mdb_proto_library(NAME ROOT <dir> [IMPORTS <dir>...] [EXTRA <proto>...] [DEPS <target>...]):
# C++ (and gRPC, for files declaring a service) for every .proto under ROOT, built into one static
# library. IMPORTS are further roots protoc resolves imports against; EXTRA are protos outside ROOT
# generated here too (paths relative to GOOGLEAPIS_PROTO_DIR).
function(mdb_proto_library name)
  cmake_parse_arguments(P "" "ROOT" "IMPORTS;EXTRA;DEPS" ${ARGN})
  file(GLOB_RECURSE own CONFIGURE_DEPENDS RELATIVE ${P_ROOT} ${P_ROOT}/*.proto)
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  get_target_property(grpc_plugin gRPC::grpc_cpp_plugin LOCATION)
  set(include_args -I${P_ROOT})
  foreach(dir ${P_IMPORTS})
    list(APPEND include_args -I${dir})
  endforeach()
  set(srcs)
  foreach(p ${own} ${P_EXTRA})
    string(REGEX REPLACE "\\.proto$" "" base ${p})
    set(outs ${gen_dir}/${base}.pb.cc ${gen_dir}/${base}.pb.h)
    if(p IN_LIST own)
      set(src ${P_ROOT}/${p})
    else()
      set(src ${GOOGLEAPIS_PROTO_DIR}/${p})
    endif()
    file(READ ${src} content)
    set(grpc_args)
    if(content MATCHES "\nservice ")
      list(APPEND outs ${gen_dir}/${base}.grpc.pb.cc ${gen_dir}/${base}.grpc.pb.h)
      set(grpc_args --grpc_out=${gen_dir} --plugin=protoc-gen-grpc=${grpc_plugin})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND protobuf::protoc ${include_args} -I${GOOGLEAPIS_PROTO_DIR} -I${Protobuf_INCLUDE_DIRS}
              --cpp_out=${gen_dir} ${grpc_args} ${p}
      WORKING_DIRECTORY ${P_ROOT}
      DEPENDS ${src} protobuf::protoc
      COMMENT "protoc ${p}")
    list(APPEND srcs ${outs})
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} SYSTEM PUBLIC ${gen_dir})
  target_link_libraries(${name} PUBLIC protobuf::libprotobuf gRPC::grpc++ ${P_DEPS})
  target_compile_options(${name} PRIVATE -w)
endfunction()
