# -*- coding: utf-8 -*-
# Copyright (c) 2026 AutopilotCX
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A PostgreSQL lexer just good enough to count statements and name what each one is.

``tokenize(text)`` follows the rules of PostgreSQL's own scanner (``scan.l``) for everything that
can hide a semicolon: ``'...'`` strings with ``''`` doubling (``standard_conforming_strings`` on, which
``pg_data_fix`` sets for its transaction), ``E'...'`` strings with backslash escapes, ``U&'...'``,
``B'...'``, ``X'...'``, ``N'...'``, ``"..."`` identifiers, dollar quoting ``$tag$...$tag$`` (``$`` inside
an identifier or a ``$1`` parameter does not start one), ``--`` comments to the end of the line and
nested ``/* */`` comments. Anything unterminated is an error with its line and column, never a guess.

``split(text)`` cuts at every ``;`` token; empty statements (``;;``, trailing ``;``, comments) are
dropped. ``refusal(statement, allow_ddl)`` says why a statement may not run inside a guarded data fix
(transaction control, session settings, procedural code, COPY, DDL, ...) or returns None.
"""

OPERATOR_CHARS = set('+-*/<>=~!@#%^&|`?')
SPACE = set(' \t\n\r\f\v')

# First words (upper case) and what they are.
DATA = {'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'WITH', 'VALUES', 'TABLE', 'LOCK'}
READ_ONLY = {'SELECT', 'WITH', 'VALUES', 'TABLE'}
TRANSACTION_CONTROL = {'BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE'}
DDL = {'CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'GRANT', 'REVOKE', 'COMMENT', 'SECURITY', 'REINDEX', 'CLUSTER',
       'VACUUM', 'ANALYZE', 'ANALYSE', 'REFRESH', 'IMPORT', 'REASSIGN'}
# SET LOCAL of these would switch off a guard of the transaction itself.
GUARDED_SETTINGS = {'session_replication_role', 'transaction_read_only', 'default_transaction_read_only',
                    'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
                    'standard_conforming_strings', 'session_authorization', 'session', 'transaction',
                    'constraints', 'characteristics'}
# Functions whose effects escape the transaction or switch off its guards.
ESCAPING_FUNCTIONS = {'set_config', 'dblink', 'dblink_exec', 'dblink_send_query', 'dblink_connect',
                      'dblink_connect_u', 'lo_export', 'lo_import', 'pg_file_write'}


class SqlTextError(ValueError):
    """The text cannot be read as SQL (unterminated string, comment, quoted identifier or dollar quote)."""


class Token(object):
    """``kind`` is one of word, string, ident (quoted), dollar, param, number, op, punct, semicolon."""

    __slots__ = ('kind', 'text', 'start', 'end')

    def __init__(self, kind, text, start, end):
        self.kind = kind
        self.text = text
        self.start = start
        self.end = end

    def __repr__(self):
        return 'Token(%r, %r)' % (self.kind, self.text)


def position(text, offset):
    """``line L, column C`` (both from 1) of an offset."""
    line = text.count('\n', 0, offset) + 1
    column = offset - (text.rfind('\n', 0, offset) + 1) + 1
    return 'line %d, column %d' % (line, column)


def _ident_start(char):
    return char.isalpha() and ord(char) < 128 or char == '_' or ord(char) >= 128


def _ident_char(char):
    return _ident_start(char) or char.isdigit() and ord(char) < 128 or char == '$'


def _quoted_end(text, start, quote, backslash=False):
    """Offset just past the closing quote of a literal whose opening quote is at ``start``."""
    i, n = start + 1, len(text)
    while i < n:
        char = text[i]
        if backslash and char == '\\':
            i += 2
            continue
        if char == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    what = 'quoted identifier' if quote == '"' else 'string'
    raise SqlTextError('unterminated %s starting at %s' % (what, position(text, start)))


def _comment_end(text, start):
    depth, i, n = 1, start + 2, len(text)
    while i < n:
        if text.startswith('/*', i):
            depth += 1
            i += 2
        elif text.startswith('*/', i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise SqlTextError('unterminated /* comment starting at %s' % position(text, start))


def _dollar_tag(text, start):
    """The ``$tag$`` opening at ``start``, or None when ``$`` starts a parameter or nothing."""
    i, n = start + 1, len(text)
    if i < n and text[i] == '$':
        return '$$'
    if i < n and _ident_start(text[i]):
        i += 1
        while i < n and _ident_char(text[i]) and text[i] != '$':
            i += 1
        if i < n and text[i] == '$':
            return text[start:i + 1]
    return None


def tokenize(text):
    """The tokens of ``text`` (comments and whitespace left out)."""
    tokens = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in SPACE:
            i += 1
        elif text.startswith('--', i):
            newline = [p for p in (text.find('\n', i), text.find('\r', i)) if p >= 0]
            i = min(newline) if newline else n
        elif text.startswith('/*', i):
            i = _comment_end(text, i)
        elif char == "'":
            end = _quoted_end(text, i, "'")
            tokens.append(Token('string', text[i:end], i, end))
            i = end
        elif char == '"':
            end = _quoted_end(text, i, '"')
            tokens.append(Token('ident', text[i:end], i, end))
            i = end
        elif char == '$':
            tag = _dollar_tag(text, i)
            if tag:
                close = text.find(tag, i + len(tag))
                if close < 0:
                    raise SqlTextError('unterminated dollar-quoted string %s starting at %s' % (tag, position(text, i)))
                end = close + len(tag)
                tokens.append(Token('dollar', text[i:end], i, end))
                i = end
            else:
                end = i + 1
                while end < n and text[end].isdigit():
                    end += 1
                tokens.append(Token('param' if end > i + 1 else 'punct', text[i:end], i, end))
                i = end
        elif _ident_start(char):
            end = i + 1
            while end < n and _ident_char(text[end]):
                end += 1
            word = text[i:end]
            prefix = word.upper()
            if end < n and text[end] == "'" and prefix in ('E', 'B', 'X', 'N'):
                close = _quoted_end(text, end, "'", backslash=prefix == 'E')
                tokens.append(Token('string', text[i:close], i, close))
                i = close
            elif prefix == 'U' and text.startswith('&', end) and end + 1 < n and text[end + 1] in '\'"':
                close = _quoted_end(text, end + 1, text[end + 1])
                tokens.append(Token('string' if text[end + 1] == "'" else 'ident', text[i:close], i, close))
                i = close
            else:
                tokens.append(Token('word', word, i, end))
                i = end
        elif char.isdigit() or char == '.' and i + 1 < n and text[i + 1].isdigit():
            end = i + 1
            while end < n and (text[end].isalnum() or text[end] in '._') and ord(text[end]) < 128:
                end += 1
            tokens.append(Token('number', text[i:end], i, end))
            i = end
        elif char == ';':
            tokens.append(Token('semicolon', ';', i, i + 1))
            i += 1
        elif char in OPERATOR_CHARS:
            end = i + 1
            while end < n and text[end] in OPERATOR_CHARS and not text.startswith('--', end) \
                    and not text.startswith('/*', end):
                end += 1
            tokens.append(Token('op', text[i:end], i, end))
            i = end
        else:
            tokens.append(Token('punct', char, i, i + 1))
            i += 1
    return tokens


class Statement(object):
    """One statement: its text (from its first to its last token) and its tokens."""

    __slots__ = ('text', 'tokens', 'start')

    def __init__(self, source, tokens):
        self.tokens = tokens
        self.start = tokens[0].start
        self.text = source[tokens[0].start:tokens[-1].end]

    def words(self, count=3):
        """The first ``count`` bare words in upper case, leading parentheses skipped."""
        words = []
        for token in self.tokens:
            if token.kind == 'punct' and token.text == '(' and not words:
                continue
            if token.kind != 'word':
                break
            words.append(token.text.upper())
            if len(words) == count:
                break
        return words


def split(text):
    """The non-empty statements of ``text``, cut at every ``;``."""
    statements, current = [], []
    for token in tokenize(text):
        if token.kind == 'semicolon':
            if current:
                statements.append(Statement(text, current))
            current = []
        else:
            current.append(token)
    if current:
        statements.append(Statement(text, current))
    return statements


def _select_into(statement):
    """True for ``SELECT ... INTO new_table`` (an INTO at depth 0 not after INSERT or MERGE)."""
    depth, previous = 0, None
    for token in statement.tokens:
        if token.kind == 'punct' and token.text in '([':
            depth += 1
        elif token.kind == 'punct' and token.text in ')]':
            depth -= 1
        elif token.kind == 'word' and token.text.upper() == 'INTO' and depth == 0 and previous not in ('INSERT', 'MERGE'):
            return True
        if token.kind == 'word':
            previous = token.text.upper()
    return False


def refusal(statement, allow_ddl=False, read_only=False):
    """Why ``statement`` may not run in a guarded transaction, or None when it may."""
    words = statement.words()
    first = words[0] if words else (statement.tokens[0].text if statement.tokens else '')
    if read_only and first not in READ_ONLY:
        return 'is not a query (%s): a validation must be a SELECT, WITH, VALUES or TABLE query' % first
    if first in TRANSACTION_CONTROL:
        return ('is transaction control (%s): pg_data_fix runs every statement in its own transaction '
                'and decides alone whether it commits' % first)
    if first in ('SET', 'RESET'):
        if first == 'SET' and len(words) > 1 and words[1] == 'LOCAL':
            name = ''
            for token in statement.tokens[2:]:
                name = token.text.strip('"').lower() if token.kind in ('word', 'ident') else token.text
                break
            if not name or name in GUARDED_SETTINGS:
                return ('is SET LOCAL %s, which would switch off a guard of the transaction'
                        % (name or statement.text))
        else:
            return ('is a session setting (%s): it would outlive the transaction; use SET LOCAL '
                    '(it ends with the transaction)' % first)
    elif first in ('DO', 'CALL'):
        return ('is procedural code (%s): a DO block or a procedure may COMMIT or ROLLBACK on its own, '
                'out of reach of the guards' % first)
    elif first == 'COPY':
        return ('is COPY: its files and programs act outside the transaction (COPY ... TO PROGRAM runs a '
                'command that no rollback undoes)')
    elif first in DDL:
        if not allow_ddl:
            return 'is DDL (%s): refused unless allow_ddl is true' % first
    elif first in ('SELECT', 'WITH') and _select_into(statement):
        if not allow_ddl:
            return 'is SELECT INTO, which creates a table (DDL): refused unless allow_ddl is true'
    elif first == 'EXPLAIN':
        return 'is EXPLAIN: EXPLAIN ANALYZE runs its statement without a guard; run the statement itself'
    elif first not in DATA:
        return ('is %s, not a data correction (SELECT, INSERT, UPDATE, DELETE, MERGE, WITH, VALUES, TABLE, '
                'LOCK, SET LOCAL%s)' % (first or 'empty', ', DDL with allow_ddl' if allow_ddl else ''))
    for token in statement.tokens:
        name = token.text.strip('"').lower() if token.kind in ('word', 'ident') else None
        if name in ESCAPING_FUNCTIONS:
            return 'calls %s, whose effects escape the transaction or switch off its guards' % name
    return None
