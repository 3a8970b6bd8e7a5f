/* _subinterp_probe: the C half of subinterp-audit.
 *
 * This extension module is compiled for the *target* interpreter (with that
 * interpreter's own sysconfig compiler settings and headers) and imported
 * only by auditor/_target/worker.py, inside a sacrificial child process that
 * probes ONE audited module and then exits.  It does the C-API work that
 * Python code cannot do:
 *
 *   read_init(path, symbol)
 *       dlopen() an extension file and call its PyInit_<name> (or, on 3.15+,
 *       PyModExport_<name>, PEP 793) to learn how the module initialises:
 *       single-phase (a module object comes back) or multi-phase (a
 *       PyModuleDef comes back), its m_size and its slots.  Calling a
 *       single-phase init function runs the module's initialisation: that is
 *       why this only ever happens in a throwaway child.
 *
 *   run_in_subinterpreter(kind, module, paths, stage_fd)
 *       create a subinterpreter of one kind ("legacy", "isolated" with a
 *       shared GIL, or "own_gil"), import `module` in it, record the raised
 *       exception if any, end the interpreter, and come back to the main
 *       interpreter.  Before each step it writes "stage <name>\n" to
 *       stage_fd, so that the parent knows where a crash or hang happened.
 *
 * Results are plain tuples/dicts; auditor/_target/worker.py turns them into
 * the probe protocol parsed by auditor/probe.py.
 *
 * The interpreter sequence follows run_in_subinterp_with_config() in
 * CPython's Modules/_testinternalcapi.c.  See also
 * ../shared/research/subinterp-tech.md, section 1.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030C0000
#  define HAVE_INTERPRETER_CONFIG 1
#endif

/* Longest exception message we copy out of a subinterpreter. */
#define MAX_MESSAGE 8192


/* ---- small helpers ---------------------------------------------------- */

/* The process that runs the probe (given by the caller).  A module under
 * audit may fork() during an import: the copy must not report any stage. */
static pid_t owner_pid = 0;

/* Write "<key> <value>\n" to fd, e.g. "stage import"; best effort, never
 * fails the probe.  Parsed by auditor/_target/worker.py (Worker._reply). */
static void
write_line(int fd, const char *key, const char *value)
{
    char line[128];
    int n;
    ssize_t done;

    if (fd < 0 || getpid() != owner_pid) {
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

/* Append "Type: str(exc)" to buffer (size MAX_MESSAGE), after `separator`. */
static void
append_exception(char *buffer, PyObject *exc, const char *separator)
{
    const char *dot = strrchr(Py_TYPE(exc)->tp_name, '.');
    PyObject *text = PyObject_Str(exc);
    const char *utf8 = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    size_t used = strlen(buffer);

    if (utf8 == NULL) {
        PyErr_Clear();
        utf8 = "<unprintable>";
    }
    snprintf(buffer + used, MAX_MESSAGE - used, "%s%s: %s", used ? separator : "",
             dot != NULL ? dot + 1 : Py_TYPE(exc)->tp_name, utf8);
    Py_XDECREF(text);
}

/* The exceptions `exc` was raised from (__cause__, else __context__ unless
 * suppressed), as "Type: message <- Type: message", or NULL when there are
 * none.  A wrapper's message often hides the real refusal: pandas re-raises
 * numpy's as "Unable to import required dependency numpy". */
static char *
describe_chain(PyObject *exc)
{
    char buffer[MAX_MESSAGE] = "";
    PyObject *current = exc;

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
        append_exception(buffer, current, " <- ");
    }
    Py_XDECREF(current);
    return buffer[0] ? strdup(buffer) : NULL;
}

/* Take the current exception of *this* interpreter and copy its type name,
 * str() and chain into malloc'ed C strings (they must survive the end of the
 * interpreter that owns the exception object).  Clears the error. */
static void
take_exception(char **type_name, char **message, char **cause)
{
    PyObject *exc, *text;
    const char *utf8;

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
    if (exc == NULL) {
        *type_name = strdup("SystemError");
        *message = strdup("import failed without setting an exception");
        return;
    }
    /* Like type(exc).__name__: tp_name of a static type is "module.Name". */
    const char *dot = strrchr(Py_TYPE(exc)->tp_name, '.');
    *type_name = strdup(dot != NULL ? dot + 1 : Py_TYPE(exc)->tp_name);
    text = PyObject_Str(exc);
    utf8 = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    if (utf8 == NULL) {
        PyErr_Clear();
        *message = strdup("<exception message could not be converted to str>");
    }
    else {
        *message = strndup(utf8, MAX_MESSAGE);
    }
    Py_XDECREF(text);
    *cause = describe_chain(exc);
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

/* Slot IDs that keep their numbers in every version (Include/moduleobject.h).
 * Spelled out so that the helper also builds against 3.11 headers. */
#define SLOT_MULTIPLE_INTERPRETERS 3
#define SLOT_GIL 4

typedef PyObject *(*init_func)(void);
typedef PyModuleDef_Slot *(*export_func)(void);

/* Add slots to `info`: the list of slot IDs and the values of the two slots
 * that matter here (None when absent). */
static int
add_slots(PyObject *info, PyModuleDef_Slot *slots)
{
    PyObject *ids = PyList_New(0);
    PyObject *multi = Py_None, *gil = Py_None;
    int rc = -1;

    if (ids == NULL) {
        return -1;
    }
    Py_INCREF(multi);
    Py_INCREF(gil);
    for (PyModuleDef_Slot *slot = slots; slot != NULL && slot->slot != 0; slot++) {
        PyObject *id = PyLong_FromLong(slot->slot);
        if (id == NULL || PyList_Append(ids, id) < 0) {
            Py_XDECREF(id);
            goto done;
        }
        Py_DECREF(id);
        if (slot->slot == SLOT_MULTIPLE_INTERPRETERS) {
            Py_SETREF(multi, PyLong_FromVoidPtr(slot->value));
        }
        else if (slot->slot == SLOT_GIL) {
            Py_SETREF(gil, PyLong_FromVoidPtr(slot->value));
        }
        if (multi == NULL || gil == NULL) {
            goto done;
        }
    }
    if (PyDict_SetItemString(info, "slots", ids) < 0
        || PyDict_SetItemString(info, "multiple_interpreters", multi) < 0
        || PyDict_SetItemString(info, "gil", gil) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_DECREF(ids);
    Py_XDECREF(multi);
    Py_XDECREF(gil);
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
        if (add_slots(info, def->m_slots) < 0) {
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
    const char *path, *name;
    char symbol[512];
    void *handle;
    PyObject *info = NULL, *result = NULL;

    if (!PyArg_ParseTuple(args, "ss:read_init", &path, &name)) {
        return NULL;
    }
    /* CPython itself uses RTLD_NOW (sys.getdlopenflags()). */
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        PyErr_Format(PyExc_ImportError, "dlopen failed: %s", dlerror());
        return NULL;
    }
    info = PyDict_New();
    if (info == NULL) {
        return NULL;
    }

    /* PEP 793 (3.15): the export hook takes precedence over PyInit. */
    snprintf(symbol, sizeof(symbol), "PyModExport%s", name);
    export_func export = (export_func)dlsym(handle, symbol);
    if (export != NULL) {
        PyModuleDef_Slot *slots = export();
        if (slots == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_SystemError, "%s returned NULL without an exception", symbol);
            }
            goto error;
        }
        if (set_str(info, "export", "PyModExport") < 0
            || set_str(info, "style", "multi_phase") < 0
            || add_slots(info, slots) < 0) {
            goto error;
        }
        return info;
    }

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
/* The three kinds of interpreter we probe; see auditor/configs.py, which
 * documents them for users.  Filled field by field: the _PyInterpreterConfig_*
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

PyDoc_STRVAR(run_in_subinterpreter_doc,
"run_in_subinterpreter(kind, module, paths, stage_fd, owner_pid)\n\n"
"Create a subinterpreter of `kind` (\"legacy\", \"isolated\" or \"own_gil\"),\n"
"prepend `paths` to its sys.path, import `module`, end the interpreter.\n"
"Stages are written to `stage_fd` only by the process `owner_pid`.\n"
"Return (\"ok\", None, None, None), (\"exception\", type_name, message,\n"
"cause) or (\"create_failed\", function, message, None).  After \"create_failed\" on 3.12\n"
"the process must _exit() without finalizing (its GIL state is broken).");

static PyObject *
run_in_subinterpreter(PyObject *self, PyObject *args)
{
    const char *kind, *module;
    PyObject *paths, *result = NULL;
    int stage_fd;
    long owner;
    char **path_copy;
    Py_ssize_t path_count = 0;
    char *exc_type = NULL, *exc_message = NULL, *exc_cause = NULL;
    const char *status = "ok";
    PyThreadState *main_state, *sub_state = NULL;

    if (!PyArg_ParseTuple(args, "ssOil:run_in_subinterpreter",
                          &kind, &module, &paths, &stage_fd, &owner)) {
        return NULL;
    }
    owner_pid = (pid_t)owner;
    path_copy = copy_paths(paths, &path_count);
    if (path_copy == NULL) {
        return NULL;
    }
    /* `module` points into a str owned by the main interpreter, which stays
     * alive (args holds it) while we are away: reading it is safe. */

    main_state = PyThreadState_Get();
    write_line(stage_fd, "stage", "create");
#ifdef HAVE_INTERPRETER_CONFIG
    PyInterpreterConfig config;
    if (fill_config(kind, &config) < 0) {
        PyErr_Format(PyExc_ValueError, "unknown interpreter kind %R", PyTuple_GET_ITEM(args, 0));
        free_strings(path_copy, path_count);
        return NULL;
    }
    PyThreadState_Swap(NULL);
    PyStatus status_create = Py_NewInterpreterFromConfig(&sub_state, &config);
    if (PyStatus_Exception(status_create)) {
        /* No new thread state exists; the main one is current again.
         * (3.12.1: current but with its GIL not really held, hence the
         * _exit() rule in the docstring.) */
        PyThreadState_Swap(main_state);
        free_strings(path_copy, path_count);
        return Py_BuildValue("(sssO)", "create_failed",
                             status_create.func ? status_create.func : "?",
                             status_create.err_msg ? status_create.err_msg : "?", Py_None);
    }
#else
    /* Before 3.12 there is only the legacy kind. */
    if (strcmp(kind, "legacy") != 0) {
        PyErr_Format(PyExc_ValueError, "interpreter kind %s needs Python 3.12+", kind);
        free_strings(path_copy, path_count);
        return NULL;
    }
    PyThreadState_Swap(NULL);
    sub_state = Py_NewInterpreter();
    if (sub_state == NULL) {
        PyThreadState_Swap(main_state);
        free_strings(path_copy, path_count);
        return Py_BuildValue("(sssO)", "create_failed", "Py_NewInterpreter", "returned NULL",
                             Py_None);
    }
#endif

    /* Now running in the new interpreter. */
    write_line(stage_fd, "stage", "import");
    if (prepend_paths(path_copy, path_count) < 0) {
        status = "exception";
        take_exception(&exc_type, &exc_message, &exc_cause);
    }
    else {
        PyObject *mod = PyImport_ImportModule(module);
        if (mod == NULL) {
            status = "exception";
            take_exception(&exc_type, &exc_message, &exc_cause);
        }
        Py_XDECREF(mod);
    }
    /* If ending the interpreter kills the process, the import's own outcome
     * is still known. */
    write_line(stage_fd, "import_outcome",
               strcmp(status, "ok") == 0 ? "ok"
               : (exc_type != NULL && (strcmp(exc_type, "ImportError") == 0
                                       || strcmp(exc_type, "ModuleNotFoundError") == 0))
                 ? "import_error" : "error");
    write_line(stage_fd, "stage", "interpreter_end");
    Py_EndInterpreter(sub_state);
    PyThreadState_Swap(main_state);
    write_line(stage_fd, "stage", "returned");

    /* Back in the main interpreter. */
    free_strings(path_copy, path_count);
    result = Py_BuildValue("(szzz)", status, exc_type, exc_message, exc_cause);
    free(exc_type);
    free(exc_message);
    free(exc_cause);
    return result;
}


/* ---- module ------------------------------------------------------------ */

static PyMethodDef probe_methods[] = {
    {"read_init", read_init, METH_VARARGS, read_init_doc},
    {"run_in_subinterpreter", run_in_subinterpreter, METH_VARARGS,
     run_in_subinterpreter_doc},
    {NULL, NULL, 0, NULL}   /* sentinel */
};

static PyModuleDef_Slot probe_slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    /* This helper is only ever imported in the main interpreter of a
     * worker; it keeps no state, so it could be loaded anywhere. */
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
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
