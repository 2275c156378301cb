// sc_main_stub.cpp - libsystemc references sc_main and is linked BIND_NOW, so the library that
// Python loads must define it (with C linkage). C++ test executables link their own instead.
extern "C" int sc_main(int, char**) { return 0; }
