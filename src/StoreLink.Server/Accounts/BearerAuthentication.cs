using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using StoreLink.Protocol;
using StoreLink.Server.Http;

namespace StoreLink.Server.Accounts;

/// <summary>
/// <c>Authorization: Bearer …</c> with an access token or an API key. The resolved <see cref="CurrentUser"/>
/// is kept on the request for endpoints to bind. A missing or dead credential answers 401 <c>unauthorized</c>
/// as a problem document, never a redirect.
/// </summary>
public sealed class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, Tokens tokens)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
            return AuthenticateResult.NoResult();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.Fail("Only bearer credentials are accepted.");

        var user = await tokens.AuthenticateAsync(header["Bearer ".Length..].Trim(), Texts.LanguageOf(Request), Context.RequestAborted);
        if (user is null)
            return AuthenticateResult.Fail("The credential is unknown, expired or revoked.");

        Context.Items[CurrentUser.ItemKey] = user.From(Context);
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, user.Id), new Claim("kind", user.Kind.ToString())], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(ApiException.Unauthorized("Sign in first: send a valid access token or API key as a bearer credential."));

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(ApiException.Forbidden());

    private async Task WriteProblemAsync(ApiException error)
    {
        Response.StatusCode = error.Status;
        if (error.Code == ErrorCodes.Unauthorized)
            Response.Headers.WWWAuthenticate = "Bearer";
        var problems = Context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = error.Status, Title = error.Message, Extensions = { ["code"] = error.Code } },
        });
    }
}
