using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Invalidator.Core.ChangeEvents;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Turns pgoutput messages into the same <see cref="ChangeEvent"/> the Debezium decoder makes of Debezium's
/// record for the same change: row images keyed by column name, values in canonical text
/// (<see cref="PostgresTextValues"/>), unchanged TOAST values as <see cref="ColumnValue.Unavailable"/>, the
/// primary key as the key image. Under a replica identity other than FULL an old row carries only its identity
/// columns: the others are <see cref="ColumnValue.Untrusted"/>, the same rule the Debezium decoder applies for
/// <c>replicaIdentity: default</c>, learnt here from the relation itself. Messages reuse their buffers, so each is
/// read completely before the next.
/// A change's row data is bounded (<c>Invalidator:DeadLetter:MaxRecordBytes</c>, as a Kafka record's value): a value
/// that would take the change's images past the bound is never read (its length is on the wire before its bytes), and
/// the change comes back <see cref="DecodedChange.Oversized"/>, with the columns that fit, for the dead-letter table.
/// </summary>
internal sealed class PgOutputDecoder
{
    private readonly IReadOnlyDictionary<string, RuleTableInfo> _tables;
    private readonly Dictionary<uint, RelationShape> _relations = [];
    private readonly RowBudget _budget;
    private readonly Encoding? _textEncoding;

    // A text value's bytes are read into this (a longer one into a pooled array) and decoded here.
    private readonly byte[] _valueBytes = new byte[4096];

    /// <param name="tables">Primary keys of the rules' tables (from the start-up checks); pgoutput only names
    /// the replica identity, which under REPLICA IDENTITY FULL is every column.</param>
    /// <param name="maxRowBytes">Most bytes of column text one change may hold, all its images together.</param>
    /// <param name="textIsUtf8">Whether the connection's text values are UTF-8 (Npgsql's default <c>Encoding</c>): then
    /// their bytes are read and decoded here, else each is read as a string by Npgsql.</param>
    public PgOutputDecoder(IReadOnlyDictionary<string, RuleTableInfo> tables, int maxRowBytes = int.MaxValue, bool textIsUtf8 = true)
    {
        _tables = tables;
        _budget = new RowBudget(maxRowBytes);
        // Strict, as Npgsql's own: invalid bytes throw, and the message becomes a poison letter either way.
        _textEncoding = textIsUtf8 ? new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true) : null;
    }

    /// <summary>Forgets relations: a new replication session describes them again.</summary>
    public void Reset() => _relations.Clear();

    /// <summary>Adds the changes in <paramref name="message"/> to <paramref name="changes"/> (none for relation and type messages).</summary>
    public async ValueTask DecodeAsync(
        PgOutputReplicationMessage message, DateTimeOffset? commitTime, List<DecodedChange> changes, CancellationToken cancellationToken)
    {
        _budget.Start();
        switch (message)
        {
            case RelationMessage relation:
                _relations[relation.RelationId] = Describe(relation);
                break;

            case InsertMessage insert:
            {
                var shape = Shape(insert.Relation);
                var after = await ReadRowAsync(insert.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Create, null, after, shape.KeyOf(after), commitTime));
                break;
            }

            case FullUpdateMessage update:
            {
                var shape = Shape(update.Relation);
                var before = await ReadRowAsync(update.OldRow, shape, OldRow(shape, keyTuple: false), cancellationToken).ConfigureAwait(false);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Update, before, after, shape.KeyOf(after), commitTime));
                break;
            }

            case IndexUpdateMessage update:
            {
                // The key changed under the default identity: the old key columns come first, the rest is unknown.
                var shape = Shape(update.Relation);
                var before = await ReadRowAsync(update.Key, shape, OldRow(shape, keyTuple: true), cancellationToken).ConfigureAwait(false);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Update, before, after, shape.KeyOf(after), commitTime));
                break;
            }

            case UpdateMessage update:
            {
                // Default identity and an unchanged key: no before image, as Debezium's before = null.
                var shape = Shape(update.Relation);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Update, null, after, shape.KeyOf(after), commitTime));
                break;
            }

            case FullDeleteMessage delete:
            {
                var shape = Shape(delete.Relation);
                var before = await ReadRowAsync(delete.OldRow, shape, OldRow(shape, keyTuple: false), cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Delete, before, null, shape.KeyOf(before), commitTime));
                break;
            }

            case KeyDeleteMessage delete:
            {
                // Only the identity columns are sent; the others are unknown, not NULL.
                var shape = Shape(delete.Relation);
                var before = await ReadRowAsync(delete.Key, shape, OldRow(shape, keyTuple: true), cancellationToken).ConfigureAwait(false);
                Add(changes, new ChangeEvent(shape.Table, ChangeOperation.Delete, before, null, shape.KeyOf(before), commitTime));
                break;
            }

            case TruncateMessage truncate:
                foreach (var relation in truncate.Relations)
                {
                    changes.Add(new(new ChangeEvent(Shape(relation).Table, ChangeOperation.Truncate, null, null, null, commitTime), null));
                }

                break;

            case LogicalDecodingMessage logical:
                changes.Add(new(
                    new ChangeEvent("", ChangeOperation.Message, null, null, null, commitTime)
                    {
                        MessagePrefix = logical.Prefix,
                        MessageContent = await ReadContentAsync(logical.Data, _budget.Max, cancellationToken).ConfigureAwait(false),
                    },
                    null));
                break;
        }
    }

    /// <summary>Adds a row change, oversized (with the reason) when a value of it was left unread.</summary>
    private void Add(List<DecodedChange> changes, ChangeEvent change) =>
        changes.Add(new DecodedChange(change, _budget.Describe(change.Table)));

    /// <summary>
    /// What is known of a message that could not be decoded, for its poison letter: its table and operation, no rows
    /// (the values are what could not be read).
    /// </summary>
    public static ChangeEvent Unreadable(PgOutputReplicationMessage message, DateTimeOffset? commitTime)
    {
        var (relation, operation) = message switch
        {
            InsertMessage m => (m.Relation, ChangeOperation.Create),
            UpdateMessage m => (m.Relation, ChangeOperation.Update),
            DeleteMessage m => (m.Relation, ChangeOperation.Delete),
            TruncateMessage m => (m.Relations.Count > 0 ? m.Relations[0] : null, ChangeOperation.Truncate),
            LogicalDecodingMessage => (null, ChangeOperation.Message),
            _ => ((RelationMessage?)null, ChangeOperation.Update),
        };
        var table = relation is null ? message.GetType().Name : relation.Namespace + "." + relation.RelationName;
        return new ChangeEvent(table, operation, null, null, null, commitTime);
    }

    private RelationShape Shape(RelationMessage relation) =>
        _relations.TryGetValue(relation.RelationId, out var shape) && ReferenceEquals(shape.Message, relation)
            ? shape
            : _relations[relation.RelationId] = Describe(relation);

    private RelationShape Describe(RelationMessage relation)
    {
        // Plain loops, no LINQ over ColumnShape: a relation is described at a session's first change, and generic code
        // over a struct of this assembly is left to the JIT by ReadyToRun (about 20 methods on that first change's path).
        var table = relation.Namespace + "." + relation.RelationName;
        var described = relation.Columns;
        var columns = new ColumnShape[described.Count];
        var identityColumns = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < columns.Length; i++)
        {
            var column = described[i];
            columns[i] = new ColumnShape(column.ColumnName, column.DataTypeId, column.TypeModifier, column.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey));
            if (columns[i].IsIdentity)
            {
                identityColumns.Add(column.ColumnName);
            }
        }

        // The record key is the primary key, as in Debezium. pgoutput flags the replica identity columns, which
        // are the primary key under the default identity but every column under FULL.
        var key = relation.ReplicaIdentity == RelationMessage.ReplicaIdentitySetting.AllColumns || identityColumns.Count == 0
            ? _tables.TryGetValue(table, out var info) && info.PrimaryKey.Count > 0 ? info.PrimaryKey.ToHashSet(StringComparer.Ordinal) : null
            : identityColumns;
        var fullIdentity = relation.ReplicaIdentity == RelationMessage.ReplicaIdentitySetting.AllColumns;
        // The key's columns as a row holds them: in the relation's column order (a relation's column names are unique).
        string[]? keyInColumnOrder = null;
        if (key is not null)
        {
            var ordered = new List<string>(key.Count);
            foreach (var column in columns)
            {
                if (key.Contains(column.Name))
                {
                    ordered.Add(column.Name);
                }
            }

            keyInColumnOrder = [.. ordered];
        }

        return new RelationShape(relation, table, columns, keyInColumnOrder, fullIdentity, new CanonicalTextCache(columns.Length, _textEncoding ?? Encoding.UTF8));
    }

    /// <summary>An old row is whole only under REPLICA IDENTITY FULL; a key tuple never is.</summary>
    private static RowKind OldRow(RelationShape shape, bool keyTuple) =>
        shape.FullIdentity && !keyTuple ? RowKind.Whole : RowKind.IdentityOnly;

    private async ValueTask<RowImage> ReadRowAsync(ReplicationTuple tuple, RelationShape shape, RowKind kind, CancellationToken cancellationToken)
    {
        // Sized for every column; shortened only when the budget left a value out.
        var columns = new KeyValuePair<string, ColumnValue>[shape.Columns.Length];
        var count = 0;
        var index = 0;
        await foreach (var value in tuple.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var at = index++;
            var column = shape.Columns[at];
            if (kind == RowKind.IdentityOnly && !column.IsIdentity)
            {
                // Sent as NULL, but the value is simply not known: never rendered, reported with the fix.
                columns[count++] = new(column.Name, ColumnValue.Untrusted);
                continue;
            }

            if (value.Kind is TupleDataKind.TextValue or TupleDataKind.BinaryValue && !_budget.TryTake(column.Name, value.Length))
            {
                // Left unread (the enumerator skips it): the change goes to the dead-letter table without it.
                continue;
            }

            columns[count++] = new(column.Name, value.Kind switch
            {
                TupleDataKind.Null => ColumnValue.Null,
                TupleDataKind.UnchangedToastedValue => ColumnValue.Unavailable,
                TupleDataKind.TextValue when _textEncoding is not null => ColumnValue.Of(await ReadTextAsync(value, at, column, shape.Canonical).ConfigureAwait(false)),
                // No token of its own: Npgsql would register it for every value, and the stream's token (the session's,
                // linked to the worker's stop) already cancels a read that waits on the socket.
                _ => ColumnValue.Of(PostgresTextValues.Canonicalize(
                    column.TypeOid, column.TypeModifier, await value.Get<string>(CancellationToken.None).ConfigureAwait(false))),
            });
        }

        if (count < columns.Length)
        {
            Array.Resize(ref columns, count);
        }

        return new RowImage(columns);
    }

    /// <summary>
    /// The canonical text of a text value, from its bytes: Npgsql's <c>Get&lt;string&gt;</c> is a converter lookup and three
    /// nested asynchronous methods a value (one of them from a pool), its column stream one, which completes at once when
    /// the bytes are buffered (nearly always, in a 64 KiB buffer); and a value its column just had is not decoded again.
    /// </summary>
    private ValueTask<string> ReadTextAsync(ReplicationValue value, int at, ColumnShape column, CanonicalTextCache canonical)
    {
        var length = value.Length;
        // No token, as above. Left to Npgsql to dispose when the enumerator moves on: disposed here, Npgsql would still
        // dispose it again before the next value's stream.
        var stream = value.GetStream();
        var bytes = length <= _valueBytes.Length ? _valueBytes : ArrayPool<byte>.Shared.Rent(length);
        var pending = stream.ReadAsync(bytes.AsMemory(0, length), CancellationToken.None);
        if (!pending.IsCompletedSuccessfully)
        {
            return ReadRestAsync(stream, pending.AsTask(), 0, bytes, length, at, column, canonical);
        }

        var read = pending.Result;
        if (read < length)
        {
            return ReadRestAsync(stream, null, read, bytes, length, at, column, canonical);
        }

        try
        {
            return new(canonical.Canonicalize(at, column.TypeOid, column.TypeModifier, bytes.AsSpan(0, length)));
        }
        finally
        {
            Return(bytes);
        }

        async ValueTask<string> ReadRestAsync(
            Stream stream, Task<int>? pending, int read, byte[] bytes, int length, int at, ColumnShape column, CanonicalTextCache canonical)
        {
            try
            {
                read += pending is null ? 0 : await pending.ConfigureAwait(false);
                while (read < length)
                {
                    var more = await stream.ReadAsync(bytes.AsMemory(read, length - read), CancellationToken.None).ConfigureAwait(false);
                    read += more > 0 ? more : throw new EndOfStreamException($"The value of {column.Name} ended after {read} of its {length} bytes.");
                }

                return canonical.Canonicalize(at, column.TypeOid, column.TypeModifier, bytes.AsSpan(0, length));
            }
            finally
            {
                Return(bytes);
            }
        }
    }

    private void Return(byte[] bytes)
    {
        if (!ReferenceEquals(bytes, _valueBytes))
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    /// <summary>
    /// The message content as text when it is UTF-8 (usually JSON), else base64, like the Debezium decoder; null when it
    /// is over <paramref name="maxBytes"/> (no rule plans a message, so nothing is lost by not reading it).
    /// </summary>
    private static async ValueTask<string?> ReadContentAsync(Stream data, int maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await data.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        var bytes = buffer.ToArray();
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Convert.ToBase64String(bytes);
    }

    /// <summary>
    /// The row data one change may still take: a value is read only if it fits in what is left, so a change never holds
    /// more than the bound, and the values left out are named in the reason.
    /// </summary>
    private sealed class RowBudget(int max)
    {
        private readonly List<(string Column, int Bytes)> _leftOut = [];
        private long _seen;
        private long _taken;

        public int Max { get; } = max;

        public void Start()
        {
            _seen = 0;
            _taken = 0;
            _leftOut.Clear();
        }

        public bool TryTake(string column, int bytes)
        {
            _seen += bytes;
            if (_taken + bytes <= Max)
            {
                _taken += bytes;
                return true;
            }

            _leftOut.Add((column, bytes));
            return false;
        }

        /// <summary>Why the change is oversized, or null when every value was read.</summary>
        public string? Describe(string table)
        {
            if (_leftOut.Count == 0)
            {
                return null;
            }

            var columns = string.Join(", ", _leftOut.Take(5).Select(c => $"'{c.Column}' ({c.Bytes} bytes)"));
            return $"The change of {table} holds {_seen} bytes of row data, over Invalidator:DeadLetter:MaxRecordBytes ({Max}); " +
                $"left out, unread: {columns}{(_leftOut.Count > 5 ? $" and {_leftOut.Count - 5} more" : "")}. It was not planned.";
        }
    }

    /// <summary>Which columns of a tuple hold the row's values: all of them, or only the replica identity's.</summary>
    private enum RowKind
    {
        Whole,
        IdentityOnly,
    }

    private readonly record struct ColumnShape(string Name, uint TypeOid, int TypeModifier, bool IsIdentity);

    /// <param name="KeyColumns">The record key's columns in column order; null when the table has no known key.</param>
    /// <param name="Canonical">The last value converted per column: consecutive images mostly repeat a value (a FULL
    /// update's unchanged columns, a timestamp many rows share).</param>
    private sealed record RelationShape(
        RelationMessage Message, string Table, ColumnShape[] Columns, string[]? KeyColumns, bool FullIdentity, CanonicalTextCache Canonical)
    {
        public RowImage? KeyOf(RowImage row)
        {
            if (KeyColumns is null)
            {
                return null;
            }

            var key = new List<KeyValuePair<string, ColumnValue>>(KeyColumns.Length);
            foreach (var name in KeyColumns)
            {
                if (row.TryGet(name, out var value))
                {
                    key.Add(new(name, value));
                }
            }

            return new RowImage(key);
        }
    }
}

/// <summary>A decoded change; <see cref="Oversized"/> says why it is poison when its row data was over the bound.</summary>
internal readonly record struct DecodedChange(ChangeEvent Change, string? Oversized);
