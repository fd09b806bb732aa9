// Viewer-request CloudFront Function (runtime cloudfront-js-2.0) in front of the
// API Gateway WebSocket API. OCPP piles append their identity to the endpoint URL
// (wss://host/ocpp/{pileId}); API Gateway WebSocket stages take no path, so the id
// moves into the query string: /ocpp/CP%2001?x=1 -> /?x=1&pileId=CP%2001.
// The origin path of the distribution adds the stage name in front of "/".
// template.yaml inlines this file verbatim (tests/unit/test_cloudfront_rewrite.py).
var PREFIX = '/ocpp';
var MAX_ID_LENGTH = 128;

function refuse(statusCode, statusDescription) {
    return { statusCode: statusCode, statusDescription: statusDescription };
}

function handler(event) {
    var request = event.request;
    var uri = request.uri;
    if (uri !== PREFIX && uri.indexOf(PREFIX + '/') !== 0) {
        return refuse(404, 'Not Found');
    }
    var rest = uri.substring(PREFIX.length + 1);
    if (rest.length > 0 && rest.charAt(rest.length - 1) === '/') {
        rest = rest.substring(0, rest.length - 1);
    }
    if (rest.length === 0 || rest.indexOf('/') !== -1) {
        return refuse(400, 'Bad Request');
    }
    var pileId;
    try {
        pileId = decodeURIComponent(rest);
    } catch (e) {
        return refuse(400, 'Bad Request');
    }
    if (pileId.length === 0 || pileId.length > MAX_ID_LENGTH || pileId.indexOf('/') !== -1) {
        return refuse(400, 'Bad Request');
    }
    // The path is the pile's identity: a pileId the client also put in the query is overridden.
    request.querystring.pileId = { value: encodeURIComponent(pileId) };
    request.uri = '/';
    return request;
}
