// A sentence a fan understands for every error code they can meet.

import { krw, retryWords } from './format.js';

/** The sentence for an ApiError; `context.seat` names the seat(s) concerned. */
export function describe(err, context = {}) {
  const seat = context.seat ? `seat ${context.seat}` : 'that seat';
  switch (err.code) {
    case 'NETWORK':
      return 'We could not reach the ticket service. Check your connection, then try again.';
    case 'UNAVAILABLE':
    case 'HTTP_500':
    case 'HTTP_502':
    case 'HTTP_503':
    case 'HTTP_504':
    case 'INTERNAL':
      return 'The ticket service is briefly unavailable, so nothing was changed. Please try again in a moment.';
    case 'RATE_LIMITED':
      return `Lots of people are buying right now. Please wait ${err.retryAfter || 'a few'} seconds and try again.`;
    case 'SEAT_UNAVAILABLE':
      return `Sorry — ${seat} was just taken by someone else. The map is refreshed: please pick another seat.`;
    case 'HOLD_EXPIRED':
      return `Your hold on ${seat} ran out, so the seat was released and nothing was charged. Please pick a seat again.`;
    case 'INSUFFICIENT_BALANCE':
      return context.shortfall
        ? `Your balance is ${krw(context.balance)}, ${krw(context.shortfall)} short of the price. Top up below, then pay.`
        : 'Your balance is too low for these seats. Top up below, then pay.';
    case 'HOLD_LIMIT_REACHED':
      return 'You already hold or own the most seats one person may have for this date. Pay for or release a held seat before picking another.';
    case 'ALREADY_PAID':
      return 'These seats are already paid for — they are yours.';
    case 'NOT_ADMITTED':
      return 'Your shopping time has ended. Join the queue again to continue.';
    case 'UNAUTHENTICATED':
      return 'Your login has ended (it expired, or you logged out in another tab). Please log in again to continue.';
    case 'FORBIDDEN':
      return 'This page belongs to another user or concert. Join the queue again.';
    case 'USER_NOT_FOUND':
      return 'We could not find your account any more. Please log in again.';
    case 'CONCERT_NOT_FOUND':
      return 'This concert is not on sale. Please pick another concert from the list.';
    case 'SCHEDULE_NOT_FOUND':
      return 'That date is not on sale any more. Please pick another date.';
    case 'SEAT_NOT_FOUND':
      return 'That seat does not exist on this date. Please pick another seat.';
    case 'RESERVATION_NOT_FOUND':
      return 'We could not find your hold any more. Please pick a seat again.';
    case 'TICKET_NOT_FOUND':
      return 'Your place in line was released (you left, or the page was closed for too long). Join again for a new place.';
    case 'IDEMPOTENCY_IN_PROGRESS':
      return 'Your request is still being processed. Please wait a moment.';
    case 'INVALID_REQUEST':
      return 'That request was not valid. Please check what you entered.';
    case 'PAYLOAD_TOO_LARGE':
      return 'That request was too large to send. Please reload the page and try again.';
    case 'IDEMPOTENCY_KEY_REUSED':
      return 'This page sent a request that clashes with an earlier one, so nothing was changed. Please reload the page and try again.';
    default:
      return `Something went wrong (${err.code}). Please try again.`;
  }
}

/** The login form's sentences: one for an unknown user and a wrong password alike. */
export function describeLogin(err) {
  switch (err.code) {
    case 'UNAUTHENTICATED':
      return 'That user id and password do not match. Check both and try again.';
    case 'RATE_LIMITED':
      return `Too many failed logins for this user id. To protect the account, logging in is paused: please try again ${retryWords(err.retryAfter)}.`;
    case 'INVALID_REQUEST':
      return 'Please enter your user id (a whole number such as 1) and your password.';
    case 'NETWORK':
      return 'We could not reach the ticket service to log you in. Check your connection, then try again.';
    default:
      if (err.status >= 500) {
        const when = err.retryAfter ? retryWords(err.retryAfter) : 'in a moment';
        return `Logging in is unavailable right now: the ticket service is busy or down. Please try again ${when}.`;
      }
      return describe(err);
  }
}
