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
/// </summary>
internal sealed class PgOutputDecoder
{
    private readonly IReadOnlyDictionary<string, RuleTableInfo> _tables;
    private readonly Dictionary<uint, RelationShape> _relations = [];

    /// <param name="tables">Primary keys of the rules' tables (from the start-up checks); pgoutput only names
    /// the replica identity, which under REPLICA IDENTITY FULL is every column.</param>
    public PgOutputDecoder(IReadOnlyDictionary<string, RuleTableInfo> tables) => _tables = tables;

    /// <summary>Forgets relations: a new replication session describes them again.</summary>
    public void Reset() => _relations.Clear();

    /// <summary>Adds the changes in <paramref name="message"/> to <paramref name="changes"/> (none for relation and type messages).</summary>
    public async ValueTask DecodeAsync(
        PgOutputReplicationMessage message, DateTimeOffset? commitTime, List<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case RelationMessage relation:
                _relations[relation.RelationId] = Describe(relation);
                break;

            case InsertMessage insert:
            {
                var shape = Shape(insert.Relation);
                var after = await ReadRowAsync(insert.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Create, null, after, shape.KeyOf(after), commitTime));
                break;
            }

            case FullUpdateMessage update:
            {
                var shape = Shape(update.Relation);
                var before = await ReadRowAsync(update.OldRow, shape, OldRow(shape, keyTuple: false), cancellationToken).ConfigureAwait(false);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Update, before, after, shape.KeyOf(after), commitTime));
                break;
            }

            case IndexUpdateMessage update:
            {
                // The key changed under the default identity: the old key columns come first, the rest is unknown.
                var shape = Shape(update.Relation);
                var before = await ReadRowAsync(update.Key, shape, OldRow(shape, keyTuple: true), cancellationToken).ConfigureAwait(false);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Update, before, after, shape.KeyOf(after), commitTime));
                break;
            }

            case UpdateMessage update:
            {
                // Default identity and an unchanged key: no before image, as Debezium's before = null.
                var shape = Shape(update.Relation);
                var after = await ReadRowAsync(update.NewRow, shape, RowKind.Whole, cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Update, null, after, shape.KeyOf(after), commitTime));
                break;
            }

            case FullDeleteMessage delete:
            {
                var shape = Shape(delete.Relation);
                var before = await ReadRowAsync(delete.OldRow, shape, OldRow(shape, keyTuple: false), cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Delete, before, null, shape.KeyOf(before), commitTime));
                break;
            }

            case KeyDeleteMessage delete:
            {
                // Only the identity columns are sent; the others are unknown, not NULL.
                var shape = Shape(delete.Relation);
                var before = await ReadRowAsync(delete.Key, shape, OldRow(shape, keyTuple: true), cancellationToken).ConfigureAwait(false);
                changes.Add(new ChangeEvent(shape.Table, ChangeOperation.Delete, before, null, shape.KeyOf(before), commitTime));
                break;
            }

            case TruncateMessage truncate:
                foreach (var relation in truncate.Relations)
                {
                    changes.Add(new ChangeEvent(Shape(relation).Table, ChangeOperation.Truncate, null, null, null, commitTime));
                }

                break;

            case LogicalDecodingMessage logical:
                changes.Add(new ChangeEvent("", ChangeOperation.Message, null, null, null, commitTime)
                {
                    MessagePrefix = logical.Prefix,
                    MessageContent = await ReadContentAsync(logical.Data, cancellationToken).ConfigureAwait(false),
                });
                break;
        }
    }

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
        var table = relation.Namespace + "." + relation.RelationName;
        var columns = relation.Columns
            .Select(c => new ColumnShape(c.ColumnName, c.DataTypeId, c.TypeModifier, c.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey)))
            .ToArray();

        // The record key is the primary key, as in Debezium. pgoutput flags the replica identity columns, which
        // are the primary key under the default identity but every column under FULL.
        var key = relation.ReplicaIdentity == RelationMessage.ReplicaIdentitySetting.AllColumns || !columns.Any(c => c.IsIdentity)
            ? _tables.TryGetValue(table, out var info) && info.PrimaryKey.Count > 0 ? info.PrimaryKey.ToHashSet(StringComparer.Ordinal) : null
            : columns.Where(c => c.IsIdentity).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var fullIdentity = relation.ReplicaIdentity == RelationMessage.ReplicaIdentitySetting.AllColumns;
        return new RelationShape(relation, table, columns, key, fullIdentity);
    }

    /// <summary>An old row is whole only under REPLICA IDENTITY FULL; a key tuple never is.</summary>
    private static RowKind OldRow(RelationShape shape, bool keyTuple) =>
        shape.FullIdentity && !keyTuple ? RowKind.Whole : RowKind.IdentityOnly;

    private static async ValueTask<RowImage> ReadRowAsync(ReplicationTuple tuple, RelationShape shape, RowKind kind, CancellationToken cancellationToken)
    {
        var columns = new List<KeyValuePair<string, ColumnValue>>(shape.Columns.Length);
        var index = 0;
        await foreach (var value in tuple.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var column = shape.Columns[index++];
            if (kind == RowKind.IdentityOnly && !column.IsIdentity)
            {
                // Sent as NULL, but the value is simply not known: never rendered, reported with the fix.
                columns.Add(new(column.Name, ColumnValue.Untrusted));
                continue;
            }

            columns.Add(new(column.Name, value.Kind switch
            {
                TupleDataKind.Null => ColumnValue.Null,
                TupleDataKind.UnchangedToastedValue => ColumnValue.Unavailable,
                _ => ColumnValue.Of(PostgresTextValues.Canonicalize(
                    column.TypeOid, column.TypeModifier, await value.Get<string>(cancellationToken).ConfigureAwait(false))),
            }));
        }

        return new RowImage(columns);
    }

    /// <summary>The message content as text when it is UTF-8 (usually JSON), else base64, like the Debezium decoder.</summary>
    private static async ValueTask<string> ReadContentAsync(Stream data, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await data.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        var bytes = buffer.ToArray();
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : Convert.ToBase64String(bytes);
    }

    /// <summary>Which columns of a tuple hold the row's values: all of them, or only the replica identity's.</summary>
    private enum RowKind
    {
        Whole,
        IdentityOnly,
    }

    private readonly record struct ColumnShape(string Name, uint TypeOid, int TypeModifier, bool IsIdentity);

    private sealed record RelationShape(RelationMessage Message, string Table, ColumnShape[] Columns, HashSet<string>? KeyColumns, bool FullIdentity)
    {
        public RowImage? KeyOf(RowImage row)
        {
            if (KeyColumns is null)
            {
                return null;
            }

            var key = new List<KeyValuePair<string, ColumnValue>>(KeyColumns.Count);
            foreach (var name in row.ColumnNames)
            {
                if (KeyColumns.Contains(name) && row.TryGet(name, out var value))
                {
                    key.Add(new(name, value));
                }
            }

            return new RowImage(key);
        }
    }
}
