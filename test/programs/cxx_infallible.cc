// opt.experimental_infallible_new and experimental.hooks.safety_check_abort
// (jemalloc 5.3's names), run preloaded by cxx_infallible.sh:
//   throw    without the option, a request no address can hold throws
//            std::bad_alloc (and the program goes on);
//   abort    with it, the same request prints hmalloc's one line and
//            aborts, nothrow new included, without calling the
//            new_handler;
//   hook     with it and a hook set by mallctl, the hook gets the line and
//            new returns null (as with jemalloc); the hook's write-only
//            mallctl answers EPERM to a read and EINVAL to a wrong size;
//   corrupt  with a hook set, a double free shows its line to the hook and
//            the process still aborts.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			std::fprintf(stderr, "cxx_infallible: %s:%d: check "   \
			    "failed: %s\n", __FILE__, __LINE__, #c);        \
			std::exit(2);                                       \
		}                                                           \
	} while (0)

typedef int (*mallctl_t)(const char *, void *, size_t *, void *, size_t);
typedef void (*hook_t)(const char *);

static char seen[256];  // the last line the hook saw
static int handler_calls;

static void
hook(const char *message) {
	std::snprintf(seen, sizeof(seen), "%s", message);
	std::printf("hook: %s", message);
	std::fflush(stdout);
}

static void
handler() {
	handler_calls++;
	std::set_new_handler(nullptr);
}

// Larger than any address space: every allocator refuses it.
static const size_t too_big = (size_t)1 << 62;

static void
set_hook(hook_t h) {
	mallctl_t mallctl = (mallctl_t)dlsym(RTLD_DEFAULT, "mallctl");
	CHECK(mallctl != nullptr);
	CHECK(mallctl("experimental.hooks.safety_check_abort", nullptr,
	    nullptr, &h, sizeof(h)) == 0);
	hook_t old = nullptr;
	size_t len = sizeof(old);
	CHECK(mallctl("experimental.hooks.safety_check_abort", &old, &len,
	    nullptr, 0) == EPERM);
	CHECK(mallctl("experimental.hooks.safety_check_abort", nullptr,
	    nullptr, &h, sizeof(h) + 1) == EINVAL);
}

int
main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	void *volatile p = nullptr;
	if (std::strcmp(mode, "throw") == 0) {
		bool thrown = false;
		try {
			p = ::operator new(too_big);
		} catch (const std::bad_alloc &) {
			thrown = true;
		}
		CHECK(thrown && p == nullptr);
	} else if (std::strcmp(mode, "abort") == 0) {
		std::set_new_handler(handler);
		p = ::operator new(too_big, std::nothrow);
		std::printf("not aborted: %p, handler %d\n", p, handler_calls);
		return 1;
	} else if (std::strcmp(mode, "hook") == 0) {
		set_hook(hook);
		std::set_new_handler(handler);
		p = ::operator new[](too_big);
		CHECK(p == nullptr);
		CHECK(handler_calls == 0);
		CHECK(std::strstr(seen, "opt.experimental_infallible_new")
		    != nullptr);
		// Ordinary requests still succeed.
		int *i = new int(7);
		CHECK(*i == 7);
		delete i;
	} else if (std::strcmp(mode, "corrupt") == 0) {
		set_hook(hook);
		char *volatile c = new char[40];
		delete[] c;
		std::fflush(stdout);
		::operator delete[](c);  // a double free
		std::printf("not aborted\n");
		return 1;
	} else {
		std::fprintf(stderr, "usage: cxx_infallible throw|abort|hook|"
		    "corrupt\n");
		return 2;
	}
	std::printf("cxx_infallible: %s ok\n", mode);
	return 0;
}
