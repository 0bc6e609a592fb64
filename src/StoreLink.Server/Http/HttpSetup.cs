using System.Data.Common;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Net.Http.Headers;
using StoreLink.Protocol;
using StoreLink.Server.Data;

namespace StoreLink.Server.Http;

/// <summary>JSON, request limits and the error model: every failure becomes a problem document with a stable code.</summary>
public static class HttpSetup
{
    public static WebApplicationBuilder AddHttp(this WebApplicationBuilder builder)
    {
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            ProtocolJson.Configure(o.SerializerOptions);
            o.SerializerOptions.Converters.Add(new CheckedJsonElementConverter());
        });
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.AddServerHeader = false;
            o.Limits.MaxRequestBodySize = 1024 * 1024; // uploads raise their own limit per endpoint
        });
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            var status = ctx.ProblemDetails.Status ?? ctx.HttpContext.Response.StatusCode;
            ctx.ProblemDetails.Extensions.TryAdd("code", ErrorCodes.ForStatus(status));
            ctx.ProblemDetails.Extensions.Remove("exception");
        });
        builder.Services.AddExceptionHandler<ProblemExceptionHandler>();
        builder.Services.AddOptions<ProxyOptions>().BindConfiguration("Http")
            .Validate(o => o.IsValid(), "Http: KnownProxies are IP addresses, KnownNetworks CIDR ranges, ForwardLimit positive.").ValidateOnStart();
        return builder;
    }

    public static WebApplication UseHttp(this WebApplication app)
    {
        // First, so that everything after it (the login limits, the console cookie) sees the client's address and scheme.
        var proxy = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ProxyOptions>>().Value;
        if (proxy.ForwardedHeaders)
            app.UseForwardedHeaders(proxy.ToForwardedHeadersOptions());
        app.Use(SecurityHeaders.ApplyAsync);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.Use(JsonCharset.CheckAsync);
        return app;
    }
}

/// <summary>
/// The charset of a JSON body, checked before binding: ASP.NET Core reads a body in any charset .NET can name, but
/// throws (a 500) on one it cannot — a quoted <c>"utf-8"</c>, valid HTTP, among them. Quotes are dropped; a charset
/// .NET does not know answers 415 <c>invalid_request</c>, as a body that is not JSON does.
/// </summary>
internal static class JsonCharset
{
    public static async Task CheckAsync(HttpContext context, RequestDelegate next)
    {
        if (MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var media) && media.Charset.HasValue &&
            (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)))
        {
            var charset = HeaderUtilities.RemoveQuotes(media.Charset).ToString();
            if (!IsKnown(charset))
            {
                context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
                await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context,
                    ProblemDetails = { Status = 415, Title = "The request's charset is not one the server can read; send JSON in UTF-8.", Extensions = { ["code"] = ErrorCodes.InvalidRequest } },
                });
                return;
            }
            if (charset.Length != media.Charset.Length)
            {
                media.Charset = charset;
                context.Request.ContentType = media.ToString();
            }
        }
        await next(context);
    }

    private static bool IsKnown(string charset)
    {
        try
        {
            _ = Encoding.GetEncoding(charset);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}

/// <summary>
/// Maps exceptions to problem documents; nothing but <c>internal</c> ever reaches a client as 500. Only the request's
/// own JSON is the caller's fault (400): JSON the server fails to read from its own data is a 500, logged. The
/// database's state is a 503 worded as it is: not reachable, or busy with conflicting changes (both retried later).
/// </summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
            return true;

        var language = context.Items.TryGetValue(Accounts.CurrentUser.ItemKey, out var caller) && caller is Accounts.CurrentUser user
            ? user.Language : Texts.LanguageOf(context.Request);
        var (code, title, errors, retryAfter) = exception switch
        {
            ApiException e => (e.Code, e.Message, e.Errors, e.RetryAfterSeconds),
            BadHttpRequestException when IsTooLarge(exception) => (ErrorCodes.TooLarge, "The request body is too large.", null, null),
            BadHttpRequestException { InnerException: JsonException j } => (ErrorCodes.InvalidRequest, JsonMessage(j), null, (int?)null),
            BadHttpRequestException e => (ErrorCodes.ForStatus(e.StatusCode), e.Message, null, null),
            _ when DatabaseTrouble(exception) is { } trouble => (ErrorCodes.Unavailable, Texts.Get(language, trouble), null, trouble == "database_busy" ? 1 : 5),
            _ => (ErrorCodes.Internal, "Something went wrong on the server.", null, null),
        };
        if (code == ErrorCodes.Internal)
            logger.LogError(exception, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
        else if (code == ErrorCodes.Unavailable)
            logger.LogWarning(exception, "Dependency unavailable on {Method} {Path}", context.Request.Method, context.Request.Path);

        var status = ErrorCodes.StatusOf(code);
        context.Response.StatusCode = status;
        if (retryAfter is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var problem = errors is null
            ? new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = status, Title = title }
            : new HttpValidationProblemDetails(errors) { Status = status, Title = title };
        problem.Extensions["code"] = code;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    private static string JsonMessage(JsonException e) =>
        e.Path is { Length: > 0 } path ? $"The request body is not valid JSON for this call at {path}." : "The request body is not valid JSON.";

    /// <summary>The text key of a failure that is the database's state, not the request's fault (503); null for any other.</summary>
    internal static string? DatabaseTrouble(Exception e) => e switch
    {
        DbException db when IsBusy(db) => "database_busy",
        DatabaseUnavailableException => "database_unavailable",
        DbException db when IsUnavailable(db) => "database_unavailable",
        _ => null,
    };

    /// <summary>
    /// Concurrent changes that could not all commit (PostgreSQL's serialization failure or deadlock once its retries
    /// ran out, SQLite's busy or locked database): the database is there, and a later try goes through.
    /// </summary>
    private static bool IsBusy(DbException e) =>
        e is Npgsql.PostgresException { SqlState: "40001" or "40P01" } or Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 5 or 6 };

    /// <summary>A dropped connection mid-request is the database's state, not the request's fault.</summary>
    private static bool IsUnavailable(DbException e) =>
        e is Npgsql.NpgsqlException { IsTransient: true } || e.InnerException is System.Net.Sockets.SocketException or TimeoutException;

    /// <summary>Kestrel's body limit surfaces as a 413 somewhere in the chain, also when it hits during JSON binding.</summary>
    private static bool IsTooLarge(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is BadHttpRequestException { StatusCode: 413 })
                return true;
        return false;
    }
}
