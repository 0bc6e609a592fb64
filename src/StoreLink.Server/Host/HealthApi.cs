using StoreLink.Server.Data;

namespace StoreLink.Server.Host;

public sealed record HealthDto(string Status);

public static class HealthApi
{
    /// <summary><c>/healthz</c>: the process answers. <c>/readyz</c>: and its database does too.</summary>
    public static void MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Ok(new HealthDto("ok"))).WithTags("Health");
        app.MapGet("/readyz", async Task<IResult> (Db db, CancellationToken ct) =>
        {
            try
            {
                await db.QuerySingleOrDefaultAsync<long>("SELECT 1", ct: ct);
                return TypedResults.Ok(new HealthDto("ready"));
            }
            catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException)
            {
                return TypedResults.Problem(title: "The database is not reachable.", statusCode: 503,
                    extensions: new Dictionary<string, object?> { ["code"] = Protocol.ErrorCodes.Unavailable });
            }
        }).WithTags("Health");
    }
}
