namespace StoreLink.Server.Data;

/// <summary>
/// The few places where SQLite and PostgreSQL SQL differ. Everything else is written once in the
/// common subset: <c>INSERT … ON CONFLICT</c>, <c>RETURNING</c>, integer Unix-millisecond times, JSON in text.
/// </summary>
public sealed class SqlDialect
{
    public static readonly SqlDialect Sqlite = new(StorageOptions.Sqlite);
    public static readonly SqlDialect Postgres = new(StorageOptions.Postgres);

    private SqlDialect(string name) => Name = name;

    /// <summary><c>sqlite</c> or <c>postgres</c>: also the name of the migrations folder.</summary>
    public string Name { get; }

    public bool IsPostgres => ReferenceEquals(this, Postgres);

    /// <summary>Case-insensitive substring match of a column against a parameter that holds a LIKE pattern.</summary>
    public string ILike(string column, string parameter) =>
        IsPostgres ? $"{column} ILIKE {parameter}" : $"{column} LIKE {parameter}";

    /// <summary>
    /// Membership in a list parameter: Dapper expands <c>IN @list</c> for SQLite and passes an array to Npgsql,
    /// which takes <c>= ANY(@list)</c>.
    /// </summary>
    public string In(string column, string listParameter) =>
        IsPostgres ? $"{column} = ANY({listParameter})" : $"{column} IN {listParameter}";

    /// <summary>The smaller of two expressions (SQLite's two-argument <c>MIN</c>, PostgreSQL's <c>LEAST</c>).</summary>
    public string Least(string a, string b) => IsPostgres ? $"LEAST({a}, {b})" : $"MIN({a}, {b})";

    /// <summary>Whether an exception is a unique-constraint violation.</summary>
    public static bool IsUniqueViolation(Exception e) =>
        e is Npgsql.PostgresException { SqlState: "23505" } or Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 2067 or 1555 };

    public override string ToString() => Name;
}
