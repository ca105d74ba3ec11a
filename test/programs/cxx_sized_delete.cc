// C++ sized delete under hmalloc (run by cxx_sized_delete.sh): the sizes
// the compiler passes (delete of a class, of an array with a destructor,
// of an over-aligned class, through a virtual destructor) and explicit
// calls with any size from the requested to the usable one are accepted;
// a size of another class aborts with `<hmalloc>: sized free with wrong
// size: 0x...`, for operator delete, delete[] and their aligned forms,
// Small, Large and Huge, and for the classic mistake of deleting a derived
// object through a base class without a virtual destructor.  Argument
// "check": hmalloc is preloaded; without it only the legal half runs (on
// glibc, which checks nothing).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <malloc.h>
#include <new>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                            \
	do {                                                                \
		if (!(c)) {                                                 \
			std::fprintf(stderr, "cxx_sized_delete: %s:%d: "    \
			    "check failed: %s\n", __FILE__, __LINE__, #c);  \
			std::abort();                                       \
		}                                                           \
	} while (0)

static bool hmalloc;
static int nchecked;

template <size_t N> struct Blob {
	char c[N];
};

struct alignas(64) Over {
	char c[100];
};

struct Counted {
	static int live;
	char c[40];
	Counted() { live++; }
	~Counted() { live--; }
};
int Counted::live;

struct VBase {
	char b[16];
	virtual ~VBase() {}
};
struct VDerived : VBase {
	char d[300];
};

// No virtual destructor: delete through Base passes sizeof(Base).
struct Base {
	char b[16];
};
struct Derived : Base {
	char d[200];
};

template <size_t N>
static void
delete_blob() {
	Blob<N> *b = new Blob<N>;
	std::memset(b->c, 1, N);
	delete b;  // operator delete(void *, N)
}

// Compiler-generated sized deletes.
static void
legal_compiler() {
	delete_blob<1>();
	delete_blob<24>();
	delete_blob<100>();
	delete_blob<4000>();
	delete_blob<14336>();
	delete_blob<14337>();
	delete_blob<40000>();
	delete_blob<(3u << 20) + 5>();
	for (int n : {1, 7, 100, 500, 5000}) {
		Counted *a = new Counted[n];  // a cookie: sized delete[]
		CHECK(Counted::live == n);
		delete[] a;
		CHECK(Counted::live == 0);
	}
	Over *o = new Over;  // operator delete(void *, size_t, align_val_t)
	CHECK(reinterpret_cast<uintptr_t>(o) % 64 == 0);
	delete o;
	Over *oa = new Over[9];
	delete[] oa;
	VBase *v = new VDerived;  // the deleting destructor passes the size
	delete v;
}

// Explicit calls: every size from the requested one to the usable one.
static void
legal_explicit() {
	static const size_t reqs[] = {1, 17, 100, 1000, 5000, 14336, 14337,
	    20000, 100000, 1 << 20, (3 << 20) + 1};
	for (size_t req : reqs) {
		void *p = ::operator new(req);
		size_t usize = hmalloc ? malloc_usable_size(p) : req;
		::operator delete(p, req);
		p = ::operator new(req);
		::operator delete(p, usize);
		p = ::operator new[](req);
		::operator delete[](p, req + (usize - req) / 2);
		p = ::operator new(req, std::align_val_t(128));
		CHECK(reinterpret_cast<uintptr_t>(p) % 128 == 0);
		size_t ausize = hmalloc ? malloc_usable_size(p) : req;
		::operator delete(p, ausize, std::align_val_t(128));
		p = ::operator new[](req, std::align_val_t(256));
		::operator delete[](p, req, std::align_val_t(256));
		if (hmalloc && req < 64) {
			// The whole class span, byte by byte.
			for (size_t s = req; s <= usize; s++) {
				p = ::operator new(req);
				::operator delete(p, s);
			}
		}
	}
}

// Runs fn(p) in a child that must die of SIGABRT with hmalloc's line.
static void
expect_wrong_size(void (*fn)(void *, size_t), void *p, size_t size,
    const char *what) {
	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		alarm(20);
		fn(p, size);
		_exit(0);
	}
	close(fds[1]);
	char out[512] = {0};
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(out) - 1
	    && (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += static_cast<size_t>(n);
	close(fds[0]);
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	char want[128];
	std::snprintf(want, sizeof(want),
	    "<hmalloc>: sized free with wrong size: %p\n", p);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT
	    || std::strcmp(out, want) != 0) {
		std::fprintf(stderr, "cxx_sized_delete: %s(%p, %zu): status "
		    "0x%x, stderr \"%s\", want SIGABRT and \"%s\"\n", what, p,
		    size, status, out, want);
		std::exit(1);
	}
	nchecked++;
}

static void
del(void *p, size_t n) {
	::operator delete(p, n);
}
static void
del_array(void *p, size_t n) {
	::operator delete[](p, n);
}
static void
del_aligned(void *p, size_t n) {
	::operator delete(p, n, std::align_val_t(128));
}
static void
del_array_aligned(void *p, size_t n) {
	::operator delete[](p, n, std::align_val_t(128));
}
static void
del_base(void *p, size_t) {
	Base *b = static_cast<Derived *>(p);
	delete b;  // operator delete(p, sizeof(Base)): the wrong size
}

static void
wrong_sizes() {
	// Block sizes of each range; for each, a size of the class below
	// (half the block) and of the class above.
	static const size_t reqs[] = {64, 1000, 14336, 20000, 100000,
	    1 << 20, 3 << 20};
	for (size_t req : reqs) {
		void *p = ::operator new(req);
		size_t usize = malloc_usable_size(p);
		expect_wrong_size(del, p, req / 2, "operator delete");
		expect_wrong_size(del, p, usize + 1, "operator delete");
		::operator delete(p, req);
		p = ::operator new[](req);
		expect_wrong_size(del_array, p, req / 2, "operator delete[]");
		expect_wrong_size(del_array, p, usize * 2, "operator delete[]");
		::operator delete[](p, req);
		p = ::operator new(req, std::align_val_t(128));
		usize = malloc_usable_size(p);
		expect_wrong_size(del_aligned, p, usize + 1,
		    "operator delete(align_val_t)");
		if (req >= 1000)
			expect_wrong_size(del_aligned, p, req / 2,
			    "operator delete(align_val_t)");
		::operator delete(p, req, std::align_val_t(128));
		p = ::operator new[](req, std::align_val_t(128));
		expect_wrong_size(del_array_aligned, p, usize * 3,
		    "operator delete[](align_val_t)");
		::operator delete[](p, req, std::align_val_t(128));
	}
	// sizeof(Base) is 16, sizeof(Derived) 216: different classes.
	Derived *d = new Derived;
	expect_wrong_size(del_base, d, sizeof(Base),
	    "delete of a Derived through Base (no virtual destructor)");
	delete d;
}

int
main(int argc, char **argv) {
	hmalloc = argc > 1 && std::strcmp(argv[1], "check") == 0;
	legal_compiler();
	legal_explicit();
	if (hmalloc) {
		wrong_sizes();
		std::printf("cxx_sized_delete: ok, %d wrong sizes caught\n",
		    nchecked);
	} else {
		std::printf("cxx_sized_delete: ok\n");
	}
	return 0;
}
