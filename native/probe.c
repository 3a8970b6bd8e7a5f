/* _subinterp_probe: the C half of subinterp-audit.
 *
 * This extension module is compiled for the *target* interpreter (with that
 * interpreter's own sysconfig compiler settings and headers) and imported
 * only by auditor/_target/worker.py, inside a sacrificial child process that
 * probes ONE audited module and then exits.  It does the C-API work that
 * Python code cannot do:
 *
 *   read_init(path, suffix)
 *       dlopen() an extension file and call its PyInit_<name> (or, on 3.15+,
 *       PyModExport_<name>, PEP 793) to learn how the module initialises:
 *       single-phase (a module object comes back) or multi-phase (a
 *       PyModuleDef comes back), its m_size and its slots.  Calling a
 *       single-phase init function runs the module's initialisation: that is
 *       why this only ever happens in a throwaway child.
 *
 *   run_in_subinterpreter(kind, module, paths, stage_fd, owner_pid,
 *                         label='', use=None)
 *       create a subinterpreter of one kind ("legacy", "isolated" with a
 *       shared GIL, or "own_gil"), prepend `paths` to its sys.path, import
 *       `module` in it, record the raised exception if any, end the
 *       interpreter, and come back to the main interpreter.  Before each
 *       step it writes "stage <name>\n" (or "stage <label>:<name>\n") to
 *       stage_fd, only from the process `owner_pid` (a fork made by the
 *       module under audit stays silent), so that the parent knows where a
 *       crash or hang happened.  Runs the Python source `use` after the
 *       import when given (the depth probes).  With say_files, it also
 *       writes what the process has loaded before the interpreter ends
 *       (say_loaded_files), so that a crash at the end keeps a closure.
 *
 *   run_together(kind, module, paths, stage_fd, owner_pid, label, use, count)
 *       the same in `count` OS threads at once, released together, whose
 *       interpreters end together (the `concurrent` depth probe, as
 *       InterpreterPoolExecutor runs interpreters: each on its own thread).
 *
 *   run_handed_over(kind, module, paths, stage_fd, owner, label, use, count)
 *       `count` interpreters created by the calling thread, used by `count`
 *       other threads at once, then ended by the calling thread (the other
 *       half of `concurrent`: concurrent.interpreters' create(), exec() or
 *       call_in_thread(), close()).
 *
 *   heap()
 *       the C heap in use (glibc mallinfo2) and the resident set size, for
 *       the `cycles` depth probe's leak measurement.
 *
 *   config_of(kind)
 *       the PyInterpreterConfig created for `kind`, as a dict (for tests).
 *
 * Results are plain tuples/dicts; auditor/_target/worker.py turns them into
 * the probe protocol parsed by auditor/probing/supervisor.py.
 *
 * The interpreter sequence follows run_in_subinterp_with_config() in
 * CPython's Modules/_testinternalcapi.c: detach from the main interpreter
 * (PyThreadState_Swap(NULL)), Py_NewInterpreterFromConfig() (3.12+) or
 * Py_NewInterpreter(), work in the new interpreter, Py_EndInterpreter(),
 * then make the main thread state current again.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030C0000
#  define HAVE_INTERPRETER_CONFIG 1
#endif

/* Longest exception message we copy out of a subinterpreter, in bytes: room
 * for the 8,192 characters that auditor/_target/worker.py keeps of any
 * message, main interpreter's or subinterpreter's alike. */
#define MAX_MESSAGE (4 * 8192)


/* ---- small helpers ---------------------------------------------------- */

/* Where stage lines go, and which process may write them.  A module under
 * audit may fork() during an import: the copy must not report any stage, so
 * every line is written only by `owner` (passed in by the caller, never kept
 * in a process-global variable). */
typedef struct {
    int fd;
    pid_t owner;
} stage_channel;

/* Write "<key> <value>\n" to the channel, e.g. "stage import"; best effort,
 * never fails the probe.  Parsed by auditor/probing/supervisor.py (the supervisor). */
static void
write_line(const stage_channel *channel, const char *key, const char *value)
{
    char line[128];
    int n;
    ssize_t done;
    int fd = channel != NULL ? channel->fd : -1;   /* NULL: say nothing */

    if (fd < 0 || getpid() != channel->owner) {
        return;
    }
    n = snprintf(line, sizeof(line), "%s %s\n", key, value);
    if (n <= 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    do {
        done = write(fd, line, (size_t)n);
    } while (done < 0 && errno == EINTR);
}

/* type(exc).__name__: tp_name of a static type is "module.Name". */
static const char *
short_type_name(PyObject *exc)
{
    const char *dot = strrchr(Py_TYPE(exc)->tp_name, '.');
    return dot != NULL ? dot + 1 : Py_TYPE(exc)->tp_name;
}

/* str(exc) as UTF-8 bytes, at most MAX_MESSAGE of them.  The cut may fall
 * inside a character: the raw bytes go to Python, which decodes them
 * (auditor/_target/worker.py, _decode).  NULL with no exception set when
 * str() itself fails. */
static PyObject *
message_bytes(PyObject *exc)
{
    PyObject *text = PyObject_Str(exc);
    PyObject *bytes = NULL;
    const char *utf8;
    Py_ssize_t size;

    if (text != NULL) {
        utf8 = PyUnicode_AsUTF8AndSize(text, &size);
        if (utf8 != NULL) {
            bytes = PyBytes_FromStringAndSize(utf8, size < MAX_MESSAGE ? size : MAX_MESSAGE);
        }
    }
    Py_XDECREF(text);
    if (bytes == NULL) {
        PyErr_Clear();
    }
    return bytes;
}

/* The exceptions `exc` was raised from (__cause__, else __context__ unless
 * suppressed), as a list of (type name, message bytes), innermost last.  A
 * wrapper's message often hides the real refusal: pandas re-raises numpy's as
 * "Unable to import required dependency numpy".  Python formats the chain. */
static PyObject *
describe_chain(PyObject *exc)
{
    PyObject *chain = PyList_New(0);
    PyObject *current = exc;

    if (chain == NULL) {
        return NULL;
    }
    Py_INCREF(current);
    for (int depth = 0; depth < 5; depth++) {
        PyObject *next = PyException_GetCause(current);
        if (next == NULL) {
            PyObject *suppress = PyObject_GetAttrString(current, "__suppress_context__");
            int suppressed = suppress != NULL && PyObject_IsTrue(suppress) == 1;
            Py_XDECREF(suppress);
            PyErr_Clear();
            if (!suppressed) {
                next = PyException_GetContext(current);
            }
        }
        Py_DECREF(current);
        current = next;
        if (current == NULL) {
            break;
        }
        PyObject *message = message_bytes(current);
        PyObject *item = Py_BuildValue("(sO)", short_type_name(current),
                                       message != NULL ? message : Py_None);
        Py_XDECREF(message);
        if (item == NULL || PyList_Append(chain, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(current);
            Py_DECREF(chain);
            return NULL;
        }
        Py_DECREF(item);
    }
    Py_XDECREF(current);
    return chain;
}

/* Append to `names` the __name__ of every module whose body (a "<module>"
 * frame) is on the traceback of `exc`, outermost first, without repeats:
 * the modules whose import led to the failure (importlib's own frames are
 * removed from import errors by CPython).  Best effort; errors cleared. */
static void
add_importers(PyObject *exc, PyObject *names)
{
    PyObject *tb = PyException_GetTraceback(exc);

    while (tb != NULL && tb != Py_None) {
        PyObject *frame = PyObject_GetAttrString(tb, "tb_frame");
        PyObject *code = frame ? PyObject_GetAttrString(frame, "f_code") : NULL;
        PyObject *co_name = code ? PyObject_GetAttrString(code, "co_name") : NULL;
        if (co_name != NULL && PyUnicode_Check(co_name)
            && PyUnicode_CompareWithASCIIString(co_name, "<module>") == 0) {
            PyObject *globals = PyObject_GetAttrString(frame, "f_globals");
            PyObject *name = globals && PyDict_Check(globals)
                             ? PyDict_GetItemString(globals, "__name__") : NULL;
            if (name != NULL && PyUnicode_Check(name)
                && PySequence_Contains(names, name) == 0) {
                PyList_Append(names, name);
            }
            Py_XDECREF(globals);
        }
        Py_XDECREF(co_name);
        Py_XDECREF(code);
        Py_XDECREF(frame);
        PyObject *next = PyObject_GetAttrString(tb, "tb_next");
        Py_DECREF(tb);
        tb = next;
    }
    Py_XDECREF(tb);
    PyErr_Clear();
}

/* The importers of `exc` and of the exceptions it was raised from, joined
 * with \x1e, as bytes (see add_importers); NULL if there are none. */
static PyObject *
describe_importers(PyObject *exc)
{
    PyObject *names = PyList_New(0), *current = exc, *joined = NULL;

    if (names == NULL) {
        PyErr_Clear();
        return NULL;
    }
    Py_INCREF(current);
    for (int depth = 0; current != NULL && depth < 6; depth++) {
        add_importers(current, names);
        PyObject *next = PyException_GetCause(current);
        if (next == NULL) {
            next = PyException_GetContext(current);
        }
        Py_DECREF(current);
        current = next;
    }
    Py_XDECREF(current);
    if (PyList_GET_SIZE(names) > 0) {
        PyObject *separator = PyUnicode_FromString("\x1e");
        PyObject *text = separator ? PyUnicode_Join(separator, names) : NULL;
        joined = text ? PyUnicode_AsUTF8String(text) : NULL;
        Py_XDECREF(text);
        Py_XDECREF(separator);
    }
    Py_DECREF(names);
    PyErr_Clear();
    return joined;
}

/* What an exception raised in a subinterpreter was, as plain C data: the
 * objects belong to that interpreter and die with it.  Raw facts only; Python
 * decides what they mean. */
typedef struct {
    char *type_name;        /* type(exc).__name__ */
    char *message;          /* str(exc) as UTF-8, possibly cut; NULL if str() failed */
    Py_ssize_t message_len;
    int is_import_error;    /* isinstance(exc, ImportError) */
    char *chain;            /* the chain, marshalled as "type\x1fmessage\x1e"... */
    Py_ssize_t chain_len;
    char *importers;        /* modules whose import led here, "name\x1ename"... */
    Py_ssize_t importers_len;
} exception_facts;

static void
free_facts(exception_facts *facts)
{
    free(facts->type_name);
    free(facts->message);
    free(facts->chain);
    free(facts->importers);
    memset(facts, 0, sizeof(*facts));
}

static char *
copy_bytes(PyObject *bytes, Py_ssize_t *len)
{
    char *copy;

    *len = PyBytes_GET_SIZE(bytes);
    copy = malloc((size_t)*len + 1);
    if (copy != NULL) {
        memcpy(copy, PyBytes_AS_STRING(bytes), (size_t)*len + 1);
    }
    return copy;
}

/* Take the current exception of *this* interpreter into `facts` (malloc'ed
 * copies that survive the end of the interpreter).  Clears the error. */
static void
take_exception(exception_facts *facts)
{
    PyObject *exc, *message, *chain;

#if PY_VERSION_HEX >= 0x030C0000
    exc = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    exc = value;
#endif
    memset(facts, 0, sizeof(*facts));
    if (exc == NULL) {
        facts->type_name = strdup("SystemError");
        facts->message = strdup("import failed without setting an exception");
        facts->message_len = (Py_ssize_t)strlen(facts->message);
        return;
    }
    facts->type_name = strdup(short_type_name(exc));
    facts->is_import_error = PyErr_GivenExceptionMatches(exc, PyExc_ImportError);
    message = message_bytes(exc);
    if (message != NULL) {
        facts->message = copy_bytes(message, &facts->message_len);
        Py_DECREF(message);
    }
    /* The chain is flattened to one byte string with ASCII separators (unit
     * and record separators), which exception text does not use. */
    chain = describe_chain(exc);
    if (chain != NULL) {
        PyObject *flat = PyBytes_FromString("");
        for (Py_ssize_t i = 0; flat != NULL && i < PyList_GET_SIZE(chain); i++) {
            PyObject *item = PyList_GET_ITEM(chain, i);
            PyObject *text = PyTuple_GET_ITEM(item, 1);
            PyBytes_ConcatAndDel(&flat, PyBytes_FromFormat(
                "%s\x1f%s\x1e", PyUnicode_AsUTF8(PyTuple_GET_ITEM(item, 0)),
                text == Py_None ? "" : PyBytes_AS_STRING(text)));
        }
        if (flat != NULL) {
            facts->chain = copy_bytes(flat, &facts->chain_len);
            Py_DECREF(flat);
        }
        Py_DECREF(chain);
    }
    PyObject *importers = describe_importers(exc);
    if (importers != NULL) {
        facts->importers = copy_bytes(importers, &facts->importers_len);
        Py_DECREF(importers);
    }
    PyErr_Clear();
    Py_DECREF(exc);
}


/* ---- read_init -------------------------------------------------------- */

/* info[key] = str(value); 0 or -1 with an exception. */
static int
set_str(PyObject *info, const char *key, const char *value)
{
    PyObject *text = PyUnicode_FromString(value);
    int rc;

    if (text == NULL) {
        return -1;
    }
    rc = PyDict_SetItemString(info, key, text);
    Py_DECREF(text);
    return rc;
}

typedef PyObject *(*init_func)(void);

/* A PEP 793 / PEP 820 slot (3.15's `PySlot`, Include/slots.h), spelled out so
 * that the helper builds against the headers of any version: 16 bytes, an id,
 * flags, a reserved word and an 8-byte value. */
typedef struct {
    uint16_t id;
    uint16_t flags;
    uint32_t reserved;
    union {
        void *ptr;
        int64_t int64;
    } value;
} raw_slot;

typedef raw_slot *(*export_func)(void);

/* 3.15 lets a slot array include another one (Include/slots_generated.h):
 * Py_slot_subslots points to a PySlot array, Py_mod_slots to a
 * PyModuleDef_Slot array.  Only followed for 3.15+ targets, where the ids
 * exist; CPython allows a few levels of nesting. */
#define RAW_SLOT_SUBSLOTS 92
#define RAW_MOD_SLOTS 94
#define MAX_NESTING 5

/* Append (slot id, value) for every slot of `array` to `pairs`, in
 * declaration order, following nested arrays.  `pyslots`: the array is of
 * PySlot (an export hook's), else of PyModuleDef_Slot (a PyModuleDef's).
 * Raw facts: which id means what depends on the interpreter version (PEP 820
 * renumbered them in 3.15), so auditor/model.py's slot table decides. */
static int
walk_slots(PyObject *pairs, const void *array, int pyslots, int depth)
{
    if (array == NULL) {
        return 0;
    }
    if (depth > MAX_NESTING) {
        PyErr_SetString(PyExc_ValueError, "slot arrays nested too deeply");
        return -1;
    }
    for (Py_ssize_t i = 0;; i++) {
        long id;
        void *value;
        if (pyslots) {
            const raw_slot *slot = (const raw_slot *)array + i;
            id = slot->id;
            value = slot->value.ptr;
        }
        else {
            const PyModuleDef_Slot *slot = (const PyModuleDef_Slot *)array + i;
            id = slot->slot;
            value = slot->value;
        }
        if (id == 0) {
            return 0;    /* Py_slot_end */
        }
#if PY_VERSION_HEX >= 0x030F0000
        if (id == RAW_SLOT_SUBSLOTS || id == RAW_MOD_SLOTS) {
            if (walk_slots(pairs, value, id == RAW_SLOT_SUBSLOTS, depth + 1) < 0) {
                return -1;
            }
            continue;
        }
#endif
        PyObject *pair = Py_BuildValue("(lN)", id, PyLong_FromVoidPtr(value));
        if (pair == NULL || PyList_Append(pairs, pair) < 0) {
            Py_XDECREF(pair);
            return -1;
        }
        Py_DECREF(pair);
    }
}

/* info["slots"] = [(slot id, value as an integer), ...]. */
static int
add_slots(PyObject *info, const void *array, int pyslots)
{
    PyObject *pairs = PyList_New(0);
    int rc = -1;

    if (pairs != NULL && walk_slots(pairs, array, pyslots, 0) == 0) {
        rc = PyDict_SetItemString(info, "slots", pairs);
    }
    Py_XDECREF(pairs);
    return rc;
}

/* Fill `info` from what PyInit_<name> returned. */
static int
describe_init_result(PyObject *info, PyObject *result)
{
    PyModuleDef *def;
    PyObject *size;

    if (PyObject_TypeCheck(result, &PyModuleDef_Type)) {
        /* Multi-phase (PEP 489): PyModuleDef_Init() handed back the def. */
        def = (PyModuleDef *)result;
        if (set_str(info, "style", "multi_phase") < 0) {
            return -1;
        }
        if (add_slots(info, def->m_slots, 0) < 0) {
            return -1;
        }
    }
    else if (PyModule_Check(result)) {
        /* Single-phase: the init function built the module itself. */
        def = PyModule_GetDef(result);
        if (set_str(info, "style", "single_phase") < 0) {
            return -1;
        }
        if (def == NULL) {
            PyErr_Clear();
            return 0;
        }
    }
    else {
        /* Allowed by the old protocol, but says nothing about the module. */
        return set_str(info, "style", "unknown");
    }
    size = PyLong_FromSsize_t(def->m_size);
    if (size == NULL || PyDict_SetItemString(info, "m_size", size) < 0) {
        Py_XDECREF(size);
        return -1;
    }
    Py_DECREF(size);
    return 0;
}

PyDoc_STRVAR(read_init_doc,
"read_init(path, suffix)\n\n"
"dlopen() the extension file `path` and call its PyModExport<suffix> or\n"
"PyInit<suffix>; return a dict describing how the module initialises.\n"
"`suffix` is \"_<name>\" for an ASCII name, else \"U_<punycode>\" (PEP 489).");

static PyObject *
read_init(PyObject *self, PyObject *args)
{
    const char *name;
    char symbol[512];
    void *handle;
    PyObject *path_bytes, *info = NULL, *result = NULL;

    /* The path as the file system's bytes: a name need not be UTF-8. */
    if (!PyArg_ParseTuple(args, "O&s:read_init", PyUnicode_FSConverter, &path_bytes, &name)) {
        return NULL;
    }
    /* CPython itself uses RTLD_NOW (sys.getdlopenflags()). */
    handle = dlopen(PyBytes_AS_STRING(path_bytes), RTLD_NOW | RTLD_LOCAL);
    Py_DECREF(path_bytes);
    if (handle == NULL) {
        PyErr_Format(PyExc_ImportError, "dlopen failed: %s", dlerror());
        return NULL;
    }
    info = PyDict_New();
    if (info == NULL) {
        return NULL;
    }

#if PY_VERSION_HEX >= 0x030F0000
    /* PEP 793 (3.15+): the export hook takes precedence over PyInit, as in
     * CPython's own loader.  Older interpreters never look for it. */
    snprintf(symbol, sizeof(symbol), "PyModExport%s", name);
    export_func export = (export_func)dlsym(handle, symbol);
    if (export != NULL) {
        raw_slot *slots = export();
        if (slots == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_SystemError, "%s returned NULL without an exception", symbol);
            }
            goto error;
        }
        if (set_str(info, "export", "PyModExport") < 0
            || set_str(info, "style", "multi_phase") < 0
            || add_slots(info, slots, 1) < 0) {
            goto error;
        }
        return info;
    }
#endif

    snprintf(symbol, sizeof(symbol), "PyInit%s", name);
    init_func init = (init_func)dlsym(handle, symbol);
    if (init == NULL) {
        PyErr_Format(PyExc_ImportError, "no %s symbol: not a Python extension module", symbol);
        goto error;
    }
    if (set_str(info, "export", "PyInit") < 0) {
        goto error;
    }
    result = init();
    if (result == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_SystemError, "%s returned NULL without an exception", symbol);
        }
        goto error;
    }
    if (describe_init_result(info, result) < 0) {
        goto error;
    }
    /* A PyModuleDef is statically allocated: never release it. */
    if (!PyObject_TypeCheck(result, &PyModuleDef_Type)) {
        Py_DECREF(result);
    }
    return info;

error:
    /* The library stays loaded: its code may still be referenced. */
    Py_XDECREF(info);
    return NULL;
}


/* ---- run_in_subinterpreter ------------------------------------------- */

#ifdef HAVE_INTERPRETER_CONFIG
/* The three kinds of interpreter we probe; see auditor/probe_plan.py (KINDS),
 * which documents them for users.  Filled field by field: the _PyInterpreterConfig_*
 * presets are private. */
static int
fill_config(const char *kind, PyInterpreterConfig *config)
{
    memset(config, 0, sizeof(*config));
    if (strcmp(kind, "legacy") == 0) {
        /* What Py_NewInterpreter() creates (mod_wsgi, the old C API). */
        config->use_main_obmalloc = 1;
        config->allow_fork = 1;
        config->allow_exec = 1;
        config->allow_threads = 1;
        config->allow_daemon_threads = 1;
#ifdef Py_GIL_DISABLED
        /* The free-threaded build refuses check=0 in subinterpreters. */
        config->check_multi_interp_extensions = 1;
#else
        config->check_multi_interp_extensions = 0;
#endif
        config->gil = PyInterpreterConfig_SHARED_GIL;
        return 0;
    }
    /* The "isolated" preset (what concurrent.interpreters creates). */
    config->use_main_obmalloc = 0;
    config->allow_fork = 0;
    config->allow_exec = 0;
    config->allow_threads = 1;
    config->allow_daemon_threads = 0;
    config->check_multi_interp_extensions = 1;
    if (strcmp(kind, "isolated") == 0) {
        /* ... but sharing the main interpreter's GIL. */
        config->gil = PyInterpreterConfig_SHARED_GIL;
        return 0;
    }
    if (strcmp(kind, "own_gil") == 0) {
        config->gil = PyInterpreterConfig_OWN_GIL;
        return 0;
    }
    return -1;
}
#endif

/* Prepend each str of `paths` to sys.path of the current interpreter. */
static int
prepend_paths(char **paths, Py_ssize_t count)
{
    PyObject *sys_path = PySys_GetObject("path");   /* borrowed */

    if (sys_path == NULL || !PyList_Check(sys_path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is missing or not a list");
        return -1;
    }
    for (Py_ssize_t i = count - 1; i >= 0; i--) {
        PyObject *entry = PyUnicode_DecodeFSDefault(paths[i]);
        if (entry == NULL || PyList_Insert(sys_path, 0, entry) < 0) {
            Py_XDECREF(entry);
            return -1;
        }
        Py_DECREF(entry);
    }
    return 0;
}

static void
free_strings(char **strings, Py_ssize_t count)
{
    if (strings == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        free(strings[i]);
    }
    free(strings);
}

/* Copy a sequence of str into a malloc'ed array of malloc'ed UTF-8/FS
 * strings: the objects belong to the main interpreter and must not be
 * touched from the subinterpreter. */
static char **
copy_paths(PyObject *paths, Py_ssize_t *count)
{
    PyObject *seq = PySequence_Fast(paths, "paths must be a sequence of str");
    char **copy = NULL;
    Py_ssize_t n;

    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    copy = calloc((size_t)n + 1, sizeof(char *));
    if (copy == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *bytes;
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(seq, i), &bytes)) {
            goto error;
        }
        copy[i] = strdup(PyBytes_AS_STRING(bytes));
        Py_DECREF(bytes);
        if (copy[i] == NULL) {
            PyErr_NoMemory();
            goto error;
        }
    }
    Py_DECREF(seq);
    *count = n;
    return copy;

error:
    free_strings(copy, n);
    Py_DECREF(seq);
    return NULL;
}

/* The __file__ of every module in this interpreter's sys.modules, as a list
 * of malloc'ed file-system strings (what the probe loaded: the result cache
 * keys on their content).  Best effort: NULL on failure, error cleared. */
static char **
loaded_files(Py_ssize_t *count)
{
    PyObject *modules = PySys_GetObject("modules");   /* borrowed */
    PyObject *values = NULL;
    char **files = NULL;
    Py_ssize_t n = 0;

    *count = 0;
    if (modules == NULL || !PyDict_Check(modules)) {
        return NULL;
    }
    values = PyDict_Values(modules);
    if (values == NULL) {
        goto done;
    }
    files = calloc((size_t)PyList_GET_SIZE(values) + 1, sizeof(char *));
    if (files == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(values); i++) {
        PyObject *file = PyObject_GetAttrString(PyList_GET_ITEM(values, i), "__file__");
        PyObject *bytes = NULL;
        if (file != NULL && PyUnicode_Check(file) && PyUnicode_FSConverter(file, &bytes)) {
            files[n] = strdup(PyBytes_AS_STRING(bytes));
            if (files[n] != NULL) {
                n++;
            }
            Py_DECREF(bytes);
        }
        Py_XDECREF(file);
        PyErr_Clear();
    }
done:
    Py_XDECREF(values);
    PyErr_Clear();
    *count = n;
    return files;
}

/* ---- one interpreter's visit ------------------------------------------ */

/* What one subinterpreter did, as C copies that outlive it: filled while the
 * subinterpreter runs, turned into a dict back in the main interpreter. */
typedef struct {
    const char *status;     /* "ok", "exception" or "create_failed" */
    const char *failed_at;  /* "import" or "use", when status is "exception" */
    exception_facts facts;
    const char *create_func, *create_message;  /* PyStatus text (static) */
    char **files;           /* __file__ of its modules (see loaded_files) */
    Py_ssize_t file_count;
} visit;

/* Write "stage <label>:<name>" (or "stage <name>" without a label). */
static void
write_stage(const stage_channel *channel, const char *label, const char *name)
{
    char value[96];

    if (label == NULL || label[0] == '\0') {
        write_line(channel, "stage", name);
        return;
    }
    snprintf(value, sizeof(value), "%s:%s", label, name);
    write_line(channel, "stage", value);
}

/* ---- what the process has loaded, said before an interpreter ends ------ */

/* Lines of at most PIPE_BUF bytes go out whole (POSIX): a buffer of whole
 * lines is flushed before it would pass that, so that another thread's stage
 * line never lands inside one. */
#define SAY_BUFFER 4096

typedef struct {
    const stage_channel *channel;
    char data[SAY_BUFFER];
    size_t used;
    int complete;               /* 0 once a line could not be said */
} say_buffer;

static void
say_flush(say_buffer *b)
{
    size_t done = 0;

    while (done < b->used) {
        ssize_t n = write(b->channel->fd, b->data + done, b->used - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            b->complete = 0;
            break;
        }
        done += (size_t)n;
    }
    b->used = 0;
}

/* Add "filehex <hex of the path's bytes>\n" (paths are bytes: no encoding
 * is assumed); a path too long for one atomic line makes the list
 * incomplete, which the supervisor then ignores. */
static void
say_file(say_buffer *b, const char *path, size_t length)
{
    static const char hex[] = "0123456789abcdef";
    size_t need = 8 + 2 * length + 1;

    if (need > SAY_BUFFER) {
        b->complete = 0;
        return;
    }
    if (b->used + need > SAY_BUFFER) {
        say_flush(b);
    }
    memcpy(b->data + b->used, "filehex ", 8);
    b->used += 8;
    for (size_t i = 0; i < length; i++) {
        b->data[b->used++] = hex[(unsigned char)path[i] >> 4];
        b->data[b->used++] = hex[(unsigned char)path[i] & 15];
    }
    b->data[b->used++] = '\n';
}

/* Say what this process has loaded, while the current subinterpreter still
 * lives: the __file__ of its modules (`files`) and every mapped file (the
 * extension modules and the libraries they link), then "files_said" if all
 * of it went out.  Read by auditor/probing/children.py: a probe that dies
 * after this (most concurrent crashes happen as interpreters end) is still
 * keyed by these files in the result cache. */
static void
say_loaded_files(const stage_channel *channel, char **files, Py_ssize_t count)
{
    say_buffer b = {.channel = channel, .used = 0, .complete = 1};
    char *line = NULL, *previous = NULL;
    size_t capacity = 0;
    FILE *maps;

    if (channel == NULL || channel->fd < 0 || getpid() != channel->owner) {
        return;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        say_file(&b, files[i], strlen(files[i]));
    }
    maps = fopen("/proc/self/maps", "r");
    if (maps == NULL) {
        b.complete = 0;
    }
    while (maps != NULL && getline(&line, &capacity, maps) > 0) {
        /* address perms offset dev inode path: the path starts at the first
         * '/' after the inode; "(deleted)" files cannot be read again. */
        char *path = strchr(line, '/');
        size_t length;
        if (path == NULL) {
            continue;
        }
        length = strcspn(path, "\n");
        if (length > 10 && strncmp(path + length - 10, " (deleted)", 10) == 0) {
            continue;
        }
        path[length] = '\0';
        if (previous != NULL && strcmp(previous, path) == 0) {
            continue;           /* the same file's next mapping */
        }
        say_file(&b, path, length);
        free(previous);
        previous = strdup(path);
    }
    if (maps != NULL) {
        fclose(maps);
    }
    free(line);
    free(previous);
    if (b.complete) {
        if (b.used + 11 > SAY_BUFFER) {
            say_flush(&b);
        }
        memcpy(b.data + b.used, "files_said\n", 11);
        b.used += 11;
    }
    say_flush(&b);
}

/* Create a subinterpreter of `kind` from the current thread, which must have
 * no current thread state.  On success the new interpreter's thread state is
 * current (holding its GIL) and *sub is set; on failure v says why. */
static int
create_interpreter(const char *kind, PyThreadState **sub, visit *v)
{
#ifdef HAVE_INTERPRETER_CONFIG
    PyInterpreterConfig config;
    PyStatus status;

    (void)fill_config(kind, &config);   /* kind was checked by the caller */
    status = Py_NewInterpreterFromConfig(sub, &config);
    if (PyStatus_Exception(status)) {
        v->status = "create_failed";
        v->create_func = status.func ? status.func : "?";
        v->create_message = status.err_msg ? status.err_msg : "?";
        return -1;
    }
#else
    (void)kind;    /* before 3.12 there is only the legacy kind */
    *sub = Py_NewInterpreter();
    if (*sub == NULL) {
        v->status = "create_failed";
        v->create_func = "Py_NewInterpreter";
        v->create_message = "returned NULL";
        return -1;
    }
#endif
    return 0;
}

/* Run the Python source `use` in a fresh namespace of the current
 * interpreter; 0, or -1 with an exception set. */
static int
run_source(const char *use)
{
    PyObject *globals = PyDict_New(), *result = NULL;

    if (globals != NULL
        && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0) {
        result = PyRun_String(use, Py_file_input, globals, globals);
    }
    Py_XDECREF(globals);
    Py_XDECREF(result);
    return result != NULL ? 0 : -1;
}

/* In the current (sub)interpreter: prepend the paths, import `module`, then
 * run `use` (may be NULL) if the import worked.  Records what happened; with
 * `say_files`, also says what the process has loaded (say_loaded_files). */
static void
import_and_use(const char *module, const char *use, char **paths, Py_ssize_t path_count,
               const stage_channel *channel, const char *label, visit *v, int say_files)
{
    write_stage(channel, label, "import");
    v->status = "ok";
    if (prepend_paths(paths, path_count) < 0) {
        v->status = "exception";
        v->failed_at = "import";
        take_exception(&v->facts);
    }
    else {
        PyObject *mod = PyImport_ImportModule(module);
        if (mod == NULL) {
            v->status = "exception";
            v->failed_at = "import";
            take_exception(&v->facts);
        }
        Py_XDECREF(mod);
    }
    if (use != NULL && strcmp(v->status, "ok") == 0) {
        write_stage(channel, label, "use");
        if (run_source(use) < 0) {
            v->status = "exception";
            v->failed_at = "use";
            take_exception(&v->facts);
        }
    }
    v->files = loaded_files(&v->file_count);
    if (say_files) {
        say_loaded_files(channel, v->files, v->file_count);
    }
    /* If ending the interpreter kills the process, the import's own outcome
     * is still known.  The same rule as the main interpreter's (by class). */
    if (label == NULL || label[0] == '\0') {
        write_line(channel, "import_outcome",
                   strcmp(v->status, "ok") == 0 ? "ok"
                   : v->facts.is_import_error ? "import_error" : "error");
    }
}

/* Back in the main interpreter: the visit as a dict; frees its copies. */
static PyObject *
visit_to_dict(visit *v)
{
    PyObject *files_list = PyList_New(0), *result = NULL;

    for (Py_ssize_t i = 0; files_list != NULL && i < v->file_count; i++) {
        PyObject *item = PyBytes_FromString(v->files[i]);
        if (item == NULL || PyList_Append(files_list, item) < 0) {
            Py_CLEAR(files_list);
        }
        Py_XDECREF(item);
    }
    free_strings(v->files, v->file_count);
    v->files = NULL;
    if (files_list == NULL) {
        free_facts(&v->facts);
        return NULL;
    }
    if (strcmp(v->status, "create_failed") == 0) {
        result = Py_BuildValue("{s:s,s:s,s:y,s:N}", "status", v->status,
                               "exception", v->create_func,
                               "message", v->create_message, "files", files_list);
    }
    else {
        result = Py_BuildValue(
            "{s:s,s:z,s:z,s:y#,s:O,s:y#,s:y#,s:N}",
            "status", v->status,
            "failed_at", v->failed_at,
            "exception", v->facts.type_name,
            "message", v->facts.message, v->facts.message_len,
            "import_error", v->facts.is_import_error ? Py_True : Py_False,
            "chain", v->facts.chain, v->facts.chain_len,
            "importers", v->facts.importers, v->facts.importers_len,
            "files", files_list);
    }
    free_facts(&v->facts);
    return result;
}

/* The kind must be one we know before any interpreter is touched. */
static int
check_kind(const char *kind)
{
#ifdef HAVE_INTERPRETER_CONFIG
    PyInterpreterConfig config;
    if (fill_config(kind, &config) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown interpreter kind %s", kind);
        return -1;
    }
#else
    if (strcmp(kind, "legacy") != 0) {
        PyErr_Format(PyExc_ValueError, "interpreter kind %s needs Python 3.12+", kind);
        return -1;
    }
#endif
    return 0;
}


/* ---- run_in_subinterpreter --------------------------------------------- */

PyDoc_STRVAR(run_in_subinterpreter_doc,
"run_in_subinterpreter(kind, module, paths, stage_fd, owner_pid, label='', use=None,\n"
"                      say_files=False)\n\n"
"Create a subinterpreter of `kind` (\"legacy\", \"isolated\" or \"own_gil\"),\n"
"prepend `paths` to its sys.path, import `module`, then run the Python source\n"
"`use` there if given, end the interpreter (`say_files`: before it ends, write\n"
"what the process has loaded to `stage_fd`).  Stages are written to `stage_fd`\n"
"only by the process `owner_pid`, as \"<label>:<stage>\" when a label is given.\n"
"Return a dict: \"status\" (\"ok\", \"exception\" or \"create_failed\"),\n"
"\"failed_at\" (\"import\" or \"use\"), and raw facts for Python to interpret:\n"
"\"exception\" (type name), \"message\" (UTF-8 bytes, possibly cut inside a\n"
"character), \"import_error\" (isinstance(exc, ImportError)), \"chain\" (bytes:\n"
"type \\x1f message \\x1e ...), \"files\" (list of bytes: __file__ of the\n"
"subinterpreter's modules).  After \"create_failed\" on 3.12 the process must\n"
"_exit() without finalizing (its GIL state is broken).");

static PyObject *
run_in_subinterpreter(PyObject *self, PyObject *args)
{
    const char *kind, *module, *label = "", *use = NULL;
    PyObject *paths;
    stage_channel channel;
    long owner;
    int say_files = 0;
    char **path_copy;
    Py_ssize_t path_count = 0;
    visit v;
    PyThreadState *main_state, *sub_state = NULL;

    memset(&v, 0, sizeof(v));
    if (!PyArg_ParseTuple(args, "ssOil|szp:run_in_subinterpreter",
                          &kind, &module, &paths, &channel.fd, &owner, &label, &use,
                          &say_files)) {
        return NULL;
    }
    channel.owner = (pid_t)owner;
    if (check_kind(kind) < 0) {
        return NULL;
    }
    path_copy = copy_paths(paths, &path_count);
    if (path_copy == NULL) {
        return NULL;
    }
    /* `module`, `label` and `use` point into objects owned by the main
     * interpreter, which stay alive (args holds them) while we are away:
     * reading them is safe. */

    main_state = PyThreadState_Get();
    write_stage(&channel, label, "create");
    /* Detach from the main interpreter (3.12+: this releases its GIL). */
    PyThreadState_Swap(NULL);
    if (create_interpreter(kind, &sub_state, &v) < 0) {
        /* No new thread state exists.  (3.12.1: the main one, once current
         * again, does not really hold its GIL: hence the _exit() rule.) */
        PyThreadState_Swap(main_state);
        free_strings(path_copy, path_count);
        return visit_to_dict(&v);
    }
    /* Now running in the new interpreter. */
    import_and_use(module, use, path_copy, path_count, &channel, label, &v, say_files);
    write_stage(&channel, label, "interpreter_end");
    Py_EndInterpreter(sub_state);
    PyThreadState_Swap(main_state);
    write_stage(&channel, label, "returned");
    free_strings(path_copy, path_count);
    return visit_to_dict(&v);
}


/* ---- several interpreters at once --------------------------------------- */

/* What run_together and run_handed_over are asked, parsed and checked, and
 * the visits of their `count` interpreters. */
typedef struct {
    const char *kind, *module, *label, *use;
    stage_channel channel;
    int count;
    int say_files;              /* interpreter 1 says what was loaded */
    char **paths;
    Py_ssize_t path_count;
    visit *visits;
} many_request;

/* Parse (kind, module, paths, stage_fd, owner_pid, label, use, count) with
 * `format`; 0, or -1 with an exception set and nothing to free. */
static int
parse_many(PyObject *args, const char *format, many_request *r)
{
    PyObject *paths;
    long owner;

    memset(r, 0, sizeof(*r));
    if (!PyArg_ParseTuple(args, format, &r->kind, &r->module, &paths,
                          &r->channel.fd, &owner, &r->label, &r->use, &r->count,
                          &r->say_files)) {
        return -1;
    }
    r->channel.owner = (pid_t)owner;
    if (check_kind(r->kind) < 0) {
        return -1;
    }
    if (r->count < 1 || r->count > 64) {
        PyErr_SetString(PyExc_ValueError, "count must be 1 to 64");
        return -1;
    }
    r->paths = copy_paths(paths, &r->path_count);
    if (r->paths == NULL) {
        return -1;
    }
    r->visits = calloc((size_t)r->count, sizeof(visit));
    if (r->visits == NULL) {
        free_strings(r->paths, r->path_count);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Back in the main interpreter: the visits as a list of dicts (every visit
 * is turned into one, which frees its copies); frees the request. */
static PyObject *
finish_many(many_request *r)
{
    PyObject *results = PyList_New(0);

    for (int i = 0; i < r->count; i++) {
        PyObject *one = visit_to_dict(&r->visits[i]);
        if (results != NULL && (one == NULL || PyList_Append(results, one) < 0)) {
            Py_CLEAR(results);
        }
        Py_XDECREF(one);
    }
    free(r->visits);
    free_strings(r->paths, r->path_count);
    return results;
}


/* ---- run_together ------------------------------------------------------ */

/* One thread of run_together, and what it shares with the others. */
typedef struct {
    const many_request *r;
    pthread_barrier_t *start, *ended;   /* released together, end together */
    int index;
} together_thread;

static void *
run_one_of_many(void *arg)
{
    together_thread *t = arg;
    const many_request *r = t->r;
    visit *v = &r->visits[t->index];
    PyThreadState *sub = NULL, *saved;

    pthread_barrier_wait(t->start);
    if (t->index == 0) {
        write_stage(&r->channel, r->label, "create");
    }
    if (create_interpreter(r->kind, &sub, v) == 0) {
        import_and_use(r->module, r->use, r->paths, r->path_count,
                       t->index == 0 ? &r->channel : NULL, r->label, v, r->say_files);
        /* Wait for the others without holding a GIL: with a shared GIL
         * they need it to get this far. */
        saved = PyEval_SaveThread();
        pthread_barrier_wait(t->ended);
        PyEval_RestoreThread(saved);
        if (t->index == 0) {
            write_stage(&r->channel, r->label, "interpreter_end");
        }
        Py_EndInterpreter(sub);
    }
    else {
        pthread_barrier_wait(t->ended);
    }
    return NULL;
}

PyDoc_STRVAR(run_together_doc,
"run_together(kind, module, paths, stage_fd, owner_pid, label, use, count,\n"
"             say_files=False)\n\n"
"Start `count` OS threads, released together; each creates a subinterpreter\n"
"of `kind`, imports `module`, runs `use` (may be None); when all are done the\n"
"interpreters end together.  The main interpreter's GIL is released\n"
"meanwhile.  Return a list of `count` dicts shaped like\n"
"run_in_subinterpreter's.");

static PyObject *
run_together(PyObject *self, PyObject *args)
{
    many_request r;
    int started = 0;
    together_thread *threads;
    pthread_t *ids;
    pthread_barrier_t start, ended;

    if (parse_many(args, "ssOilszi|p:run_together", &r) < 0) {
        return NULL;
    }
    threads = calloc((size_t)r.count, sizeof(*threads));
    ids = calloc((size_t)r.count, sizeof(*ids));
    if (threads == NULL || ids == NULL) {
        free(threads);
        free(ids);
        Py_XDECREF(finish_many(&r));
        return PyErr_NoMemory();
    }
    pthread_barrier_init(&start, NULL, (unsigned)r.count);
    pthread_barrier_init(&ended, NULL, (unsigned)r.count);
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < r.count; i++) {
        threads[i] = (together_thread){&r, &start, &ended, i};
        if (pthread_create(&ids[i], NULL, run_one_of_many, &threads[i]) != 0) {
            break;
        }
        started++;
    }
    if (started == r.count) {
        for (int i = 0; i < r.count; i++) {
            pthread_join(ids[i], NULL);
        }
    }
    Py_END_ALLOW_THREADS
    if (started != r.count) {
        /* The started threads wait at the first barrier forever; this
         * process cannot go on, and the probe is lost: say so. */
        Py_FatalError("run_together: pthread_create failed");
    }
    pthread_barrier_destroy(&start);
    pthread_barrier_destroy(&ended);
    free(threads);
    free(ids);
    return finish_many(&r);
}


/* ---- run_handed_over -------------------------------------------------- */

/* One worker thread of run_handed_over: it uses an interpreter that the
 * calling thread created, as concurrent.interpreters' exec() and
 * call_in_thread() do, and leaves it alive. */
typedef struct {
    const many_request *r;
    PyInterpreterState *interp;
    PyThreadState *initial;     /* the creating thread's, kept for the end */
    pthread_barrier_t *start;
    int index;
} handed_thread;

static void *
use_handed_over(void *arg)
{
    handed_thread *t = arg;
    const many_request *r = t->r;
    PyThreadState *ts;

    pthread_barrier_wait(t->start);
    /* A thread state of its own in the interpreter it was given. */
    ts = PyThreadState_New(t->interp);
    PyEval_RestoreThread(ts);
    import_and_use(r->module, r->use, r->paths, r->path_count,
                   t->index == 0 ? &r->channel : NULL, r->label, &r->visits[t->index],
                   r->say_files);
    PyThreadState_Clear(ts);
    PyThreadState_DeleteCurrent();
    return NULL;
}

PyDoc_STRVAR(run_handed_over_doc,
"run_handed_over(kind, module, paths, stage_fd, owner_pid, label, use, count,\n"
"                say_files=False)\n\n"
"The pattern of concurrent.interpreters' users: this thread creates `count`\n"
"interpreters of `kind`; `count` OS threads, released together, each import\n"
"`module` and run `use` in one of them; when all are done, this thread ends\n"
"every interpreter.  Return a list of `count` dicts shaped like\n"
"run_in_subinterpreter's (a failed creation ends the creating: the later\n"
"interpreters are not created, their dicts say create_failed too).");

static PyObject *
run_handed_over(PyObject *self, PyObject *args)
{
    many_request r;
    int created = 0, started = 0;
    handed_thread *threads;
    pthread_t *ids;
    pthread_barrier_t start;
    PyThreadState *main_state, *sub = NULL;

    if (parse_many(args, "ssOilszi|p:run_handed_over", &r) < 0) {
        return NULL;
    }
    threads = calloc((size_t)r.count, sizeof(*threads));
    ids = calloc((size_t)r.count, sizeof(*ids));
    if (threads == NULL || ids == NULL) {
        free(threads);
        free(ids);
        Py_XDECREF(finish_many(&r));
        return PyErr_NoMemory();
    }

    /* Create them all from this thread, and leave each (its first thread
     * state kept but detached, as _xxsubinterpreters.create() does: 3.12
     * cannot make a new first thread state); the workers bring their own. */
    write_stage(&r.channel, r.label, "create");
    main_state = PyThreadState_Swap(NULL);
    for (; created < r.count; created++) {
        if (create_interpreter(r.kind, &sub, &r.visits[created]) < 0) {
            break;
        }
        threads[created] = (handed_thread){&r, PyThreadState_GetInterpreter(sub), sub,
                                           &start, created};
        PyThreadState_Swap(NULL);         /* releases its GIL */
    }
    if (created < r.count) {
        /* Every visit says create_failed (static strings, nothing to free).
         * The caller leaves the process at once (on 3.12 a failed creation
         * breaks the GIL state): the interpreters made so far are left. */
        for (int i = 0; i < r.count; i++) {
            r.visits[i] = r.visits[created];
        }
        PyThreadState_Swap(main_state);
        goto done;
    }

    /* Use them from other threads, together. */
    pthread_barrier_init(&start, NULL, (unsigned)created);
    for (int i = 0; i < created; i++) {
        if (pthread_create(&ids[i], NULL, use_handed_over, &threads[i]) != 0) {
            break;
        }
        started++;
    }
    if (started != created) {
        /* The started threads wait at the barrier forever: the probe is
         * lost, and this process cannot go on. */
        Py_FatalError("run_handed_over: pthread_create failed");
    }
    for (int i = 0; i < created; i++) {
        pthread_join(ids[i], NULL);
    }
    pthread_barrier_destroy(&start);

    /* End them from this thread, as close() does from the creating one. */
    write_stage(&r.channel, r.label, "interpreter_end");
    for (int i = 0; i < created; i++) {
        PyThreadState_Swap(threads[i].initial);
        Py_EndInterpreter(threads[i].initial);   /* leaves no thread state current */
    }
    PyThreadState_Swap(main_state);

done:
    free(threads);
    free(ids);
    return finish_many(&r);
}


/* ---- heap ---------------------------------------------------------------- */

PyDoc_STRVAR(heap_doc,
"heap()\n\n"
"(C heap bytes in use, resident set bytes) of this process: glibc's\n"
"mallinfo2() (arena plus mmapped blocks) and /proc/self/statm; -1 where\n"
"unknown.");

static PyObject *
heap(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    long long in_use = -1, rss = -1;
    long pages_total, pages_resident;
    FILE *statm;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 info = mallinfo2();
    in_use = (long long)(info.uordblks + info.hblkhd);
#endif
    statm = fopen("/proc/self/statm", "r");
    if (statm != NULL) {
        if (fscanf(statm, "%ld %ld", &pages_total, &pages_resident) == 2) {
            rss = (long long)pages_resident * sysconf(_SC_PAGESIZE);
        }
        fclose(statm);
    }
    return Py_BuildValue("(LL)", in_use, rss);
}


/* ---- config_of --------------------------------------------------------- */

PyDoc_STRVAR(config_of_doc,
"config_of(kind)\n\n"
"The PyInterpreterConfig this helper creates for `kind`, as a dict (so that\n"
"tests can check the own-GIL kind against concurrent.interpreters' own).");

static PyObject *
config_of(PyObject *self, PyObject *args)
{
    const char *kind;

    if (!PyArg_ParseTuple(args, "s:config_of", &kind)) {
        return NULL;
    }
#ifdef HAVE_INTERPRETER_CONFIG
    PyInterpreterConfig config;
    if (fill_config(kind, &config) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown interpreter kind %s", kind);
        return NULL;
    }
    return Py_BuildValue("{s:N,s:N,s:N,s:N,s:N,s:N,s:s}",
        "use_main_obmalloc", PyBool_FromLong(config.use_main_obmalloc),
        "allow_fork", PyBool_FromLong(config.allow_fork),
        "allow_exec", PyBool_FromLong(config.allow_exec),
        "allow_threads", PyBool_FromLong(config.allow_threads),
        "allow_daemon_threads", PyBool_FromLong(config.allow_daemon_threads),
        "check_multi_interp_extensions",
        PyBool_FromLong(config.check_multi_interp_extensions),
        "gil", config.gil == PyInterpreterConfig_OWN_GIL ? "own"
               : config.gil == PyInterpreterConfig_SHARED_GIL ? "shared" : "default");
#else
    PyErr_SetString(PyExc_NotImplementedError, "interpreter configs need Python 3.12+");
    return NULL;
#endif
}


/* ---- module ------------------------------------------------------------ */

static PyMethodDef probe_methods[] = {
    {"read_init", read_init, METH_VARARGS, read_init_doc},
    {"run_in_subinterpreter", run_in_subinterpreter, METH_VARARGS,
     run_in_subinterpreter_doc},
    {"run_together", run_together, METH_VARARGS, run_together_doc},
    {"run_handed_over", run_handed_over, METH_VARARGS, run_handed_over_doc},
    {"heap", heap, METH_NOARGS, heap_doc},
    {"config_of", config_of, METH_VARARGS, config_of_doc},
    {NULL, NULL, 0, NULL}   /* sentinel */
};

static PyModuleDef_Slot probe_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    /* This helper is only ever imported in the main interpreter of a
     * worker; it keeps no state, so it could be loaded anywhere. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    /* Free-threaded builds: importing a module without this slot re-enables
     * the GIL for the whole process, which would change what every probe
     * measures.  The helper holds no state, so it needs no GIL. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}   /* sentinel */
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_subinterp_probe",
    .m_doc = "C-API probes for subinterp-audit (see native/probe.c).",
    .m_size = 0,
    .m_methods = probe_methods,
    .m_slots = probe_slots,
};

PyMODINIT_FUNC
PyInit__subinterp_probe(void)
{
    return PyModuleDef_Init(&probe_module);
}
