// operator new and delete as hmalloc exports them: every form allocates
// from hmalloc (usable sizes are hmalloc's classes), alignment is honoured,
// the new_handler loop and std::bad_alloc work, nothrow forms return null,
// and a sized delete with a size of another class aborts with hmalloc's
// message.  Run preloaded (argument "check") by cxx_new.sh.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			std::fprintf(stderr, "cxx_new: %s:%d: check failed: %s\n", \
			    __FILE__, __LINE__, #c);                        \
			std::abort();                                       \
		}                                                           \
	} while (0)

struct alignas(128) A128 {
	char c[200];
};
struct alignas(8192) APage {
	char c[10];
};

static int handler_calls;
static void
handler() {
	if (++handler_calls == 3)
		std::set_new_handler(nullptr);
}

int
main(int argc, char **argv) {
	bool hmalloc = argc > 1 && std::strcmp(argv[1], "check") == 0;
	// hmalloc's class for 17 bytes is 32; glibc's chunk holds 24.
	char *c = new char[17];
	if (hmalloc)
		CHECK(malloc_usable_size(c) == 32);
	delete[] c;
	int *i = new int(5);
	CHECK(*i == 5);
	delete i;
	for (int k = 0; k < 1000; k++) {
		A128 *a = new A128;
		CHECK(reinterpret_cast<uintptr_t>(a) % 128 == 0);
		APage *p = new APage[3];
		CHECK(reinterpret_cast<uintptr_t>(p) % 8192 == 0);
		delete[] p;
		delete a;
	}
	void *s = ::operator new(1000);
	::operator delete(s, 1000);
	s = ::operator new[](3000);
	::operator delete[](s, 3000);
	s = ::operator new(100, std::align_val_t(256));
	CHECK(reinterpret_cast<uintptr_t>(s) % 256 == 0);
	::operator delete(s, 100, std::align_val_t(256));
	// Exhaustion: the handler runs until it uninstalls itself, then
	// std::bad_alloc; the nothrow forms return null.
	std::set_new_handler(handler);
	bool threw = false;
	try {
		void *huge = ::operator new(static_cast<size_t>(1) << 62);
		(void)huge;
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw);
	CHECK(handler_calls == 3);
	CHECK(::operator new(static_cast<size_t>(1) << 62, std::nothrow) == nullptr);
	CHECK(::operator new[](static_cast<size_t>(1) << 62, std::align_val_t(64),
	    std::nothrow) == nullptr);
	if (hmalloc) {
		// A sized delete naming another class: hmalloc's abort.
		int fds[2];
		CHECK(pipe(fds) == 0);
		void *b = ::operator new(64);
		pid_t pid = fork();
		if (pid == 0) {
			dup2(fds[1], 2);
			::operator delete(b, 4000);
			_exit(0);
		}
		close(fds[1]);
		char out[256] = {0};
		ssize_t n = read(fds[0], out, sizeof(out) - 1);
		(void)n;
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
		char want[128];
		std::snprintf(want, sizeof(want),
		    "<hmalloc>: sized free with wrong size: %p\n", b);
		CHECK(std::strcmp(out, want) == 0);
		::operator delete(b, 64);
	}
	std::printf("cxx_new: ok\n");
	return 0;
}
